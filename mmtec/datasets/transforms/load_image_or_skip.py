"""Image loading that skips an undecodable file instead of stopping."""
import logging
import os.path as osp
from typing import List, Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log

from mmtec.registry import TRANSFORMS

SKIPPED_KEY = 'skipped_images'


@TRANSFORMS.register_module()
class LoadImageOrSkip(LoadImageFromFile):
    """``LoadImageFromFile`` that skips an image it cannot decode.

    mmcv's loader stops the run on one bad file with a bare
    ``AssertionError: failed to load image``. This one logs a warning
    naming the file and returns ``None``; MMEngine's ``BaseDataset`` then
    draws another image in its place (the same mechanism, in the same
    process, whichever dataloader worker runs it). The paths skipped
    before that image are put in ``results['skipped_images']``; with
    ``PackInputs(algorithm_keys=['skipped_images'])`` they reach the data
    samples, where :class:`SkippedImagesHook` counts them, logs a summary
    per epoch and stops the run above a bad fraction.

    A missing file is not skipped: it means the dataset changed since its
    file list was read, which is worth stopping for.

    Args:
        **kwargs: The arguments of :class:`mmcv.transforms.LoadImageFromFile`
            (``color_type``, ``imdecode_backend``, ``backend_args``, ...).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._skipped: List[str] = []

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            loaded = super().transform(results)
        except Exception as err:  # mmcv/cv2/PIL raise many types
            if isinstance(filename, str) and not osp.exists(filename):
                raise FileNotFoundError(
                    f'Image {filename} does not exist (the data folder '
                    'changed while training?).') from err
            print_log(
                f'Skipping undecodable image {filename} '
                f'({type(err).__name__}: {err}); another image is drawn '
                'in its place.',
                logger='current',
                level=logging.WARNING)
            self._skipped.append(str(filename))
            return None
        if loaded is not None and self._skipped:
            loaded[SKIPPED_KEY] = self._skipped
            self._skipped = []
        return loaded
