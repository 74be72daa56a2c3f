"""Count the images the loader skipped; stop when there are too many."""
from typing import List, Optional

from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook

from mmtec.datasets.transforms.load_image_or_skip import SKIPPED_KEY
from mmtec.registry import HOOKS


class TooManyBadImagesError(RuntimeError):
    """More undecodable or oversized images than the configured fraction."""


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Summarise skipped images per epoch and bound their fraction.

    :class:`~mmtec.datasets.LoadImageOrSkip` replaces an undecodable or
    oversized image by another one and tags the replacement's data sample
    with the skipped path. This hook reads the tags (any worker's), logs
    one warning per epoch naming the files, and raises when more than
    ``max_bad_fraction`` of an epoch's images were bad (as soon as one
    process has skipped that fraction of the dataset, else at its end).

    Args:
        max_bad_fraction (float): Largest tolerated fraction of bad images
            per epoch. Defaults to 0.001 (0.1%).
        max_listed (int): Files named in the summary. Defaults to 10.
    """

    def __init__(self, max_bad_fraction: float = 1e-3, max_listed: int = 10):
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError('max_bad_fraction must be in [0, 1], got '
                             f'{max_bad_fraction}')
        self.max_bad_fraction, self.max_listed = max_bad_fraction, max_listed
        self.before_train_epoch(None)

    def before_train_epoch(self, runner) -> None:
        self._skipped: List[str] = []
        self._read = 0

    def _error(self, runner, skipped: List[str], read: int,
               where: str) -> TooManyBadImagesError:
        return TooManyBadImagesError(
            f'{len(skipped)} of {read} images read {where} in epoch '
            f'{runner.epoch + 1} could not be decoded or were oversized '
            f'({len(skipped) / max(read, 1):.2%}), more than '
            f'max_bad_fraction={self.max_bad_fraction:.2%} (SkippedImagesHook '
            f'in custom_hooks). First ones: {skipped[:self.max_listed]}. '
            'Check or re-create these files, or raise max_bad_fraction if '
            'they are expected.')

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        for sample in (data_batch or {}).get('data_samples') or []:
            skipped = sample.get(SKIPPED_KEY, None) if hasattr(
                sample, 'get') else None
            if skipped:
                self._skipped.extend(skipped)
                self._read += len(skipped)
            self._read += 1
        limit = self.max_bad_fraction * len(runner.train_dataloader.dataset)
        if len(self._skipped) > limit:
            raise self._error(runner, self._skipped, self._read,
                              'by this process')

    def after_train_epoch(self, runner) -> None:
        skipped, read = self._skipped, self._read
        if get_world_size() > 1:  # collective: every rank runs this
            parts = all_gather_object((skipped, read))
            skipped = [p for part in parts for p in part[0]]
            read = sum(part[1] for part in parts)
        if not skipped:
            return
        runner.logger.warning(
            f'Epoch {runner.epoch + 1}: skipped {len(skipped)} undecodable '
            f'or oversized image(s) of {read} read '
            f'({len(skipped) / max(read, 1):.3%}, '
            f'limit {self.max_bad_fraction:.3%}): '
            f'{skipped[:self.max_listed]}'
            + (' ...' if len(skipped) > self.max_listed else ''))
        if len(skipped) > self.max_bad_fraction * read:
            raise self._error(runner, skipped, read, 'by all processes')
