"""An epoch-based training loop that resumes in the middle of an epoch."""
import logging

import torch
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmtec.registry import LOOPS

# message-hub info (saved in checkpoints): where the current epoch began
EPOCH_START = 'epoch_start'


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that continues an epoch where it was left.

    MMEngine's loop restarts a resumed epoch from its first batch. This
    loop records in the message hub (saved in checkpoints) the iteration
    at which the current epoch began, and on resume skips the batches
    already trained: through the sampler's ``skip(num_samples)``
    (:class:`~mmtec.datasets.SeededSampler`), else by loading and dropping
    them (with a warning). Hooks see the batch index within the epoch as
    in an uninterrupted run. The seed that creating a DataLoader iterator
    draws from torch's generator (once only with persistent workers, so a
    resumed run would draw once more) is given back.

    Args:
        runner (Runner): See :class:`mmengine.runner.EpochBasedTrainLoop`.
        dataloader (DataLoader | dict): The training dataloader.
        max_epochs (int): Total training epochs.
        val_begin (int): The epoch that begins validating. Defaults to 1.
        val_interval (int): Validation interval. Defaults to 1.
        dynamic_intervals (list[tuple[int, int]], optional): Changes of
            ``val_interval`` by epoch. Defaults to None.
    """

    def _batches_done(self) -> int:
        """Batches of the current epoch trained before a resume."""
        per_epoch = len(self.dataloader)
        start = self.runner.message_hub.get_info(EPOCH_START)
        if not isinstance(start, dict) or start.get('epoch') != self._epoch:
            if self._iter != self._epoch * per_epoch and start is None:
                print_log(
                    f'Resumed at iteration {self._iter}, epoch '
                    f'{self._epoch}, from a checkpoint that does not record '
                    'where the epoch began: the epoch is trained from its '
                    'first batch (the resumed run is not exact).',
                    logger='current', level=logging.WARNING)
            return 0
        done = self._iter - start['iter']
        if not 0 <= done <= per_epoch:
            print_log(
                f'Resumed at iteration {self._iter}, {done} iterations into '
                f'epoch {self._epoch}, which has {per_epoch}: the batch '
                'size or the dataset changed; the epoch is trained from its '
                'first batch.', logger='current', level=logging.WARNING)
            return 0
        return done

    def _epoch_iterator(self, done: int):
        """An iterator over the epoch's batches after the first ``done``."""
        sampler = getattr(self.dataloader, 'sampler', None)
        batch_size = getattr(self.dataloader, 'batch_size', None)
        rng = torch.get_rng_state()
        if done and hasattr(sampler, 'skip') and batch_size:
            sampler.skip(done * batch_size)
            done_here = 0
        else:
            done_here = done
        iterator = iter(self.dataloader)
        torch.set_rng_state(rng)  # undo the loader's seed draw
        if done_here:
            print_log(
                f'Resuming in epoch {self._epoch}: loading and dropping its '
                f'first {done_here} batches ({type(sampler).__name__} cannot '
                'skip them; SeededSampler can).',
                logger='current', level=logging.WARNING)
            for _ in range(done_here):
                next(iterator)
        return iterator

    def run_epoch(self) -> None:
        """Iterate one epoch (from where it was left when resumed)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._batches_done()
        self.runner.message_hub.update_info(
            EPOCH_START, dict(epoch=self._epoch, iter=self._iter - done))
        for idx, data_batch in enumerate(
                self._epoch_iterator(done), start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
