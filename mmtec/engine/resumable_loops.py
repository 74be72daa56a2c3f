"""Training loops that resume where a checkpoint left off, exactly."""
import itertools
import logging
import random
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import BatchSampler, DataLoader

from mmtec.registry import LOOPS

# message-hub info (saved in checkpoints): where the current epoch began
EPOCH_START = 'epoch_start'


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def _fresh_iterator(dataloader) -> Iterator:
    """``iter(dataloader)``, its draw from torch's generator undone."""
    rng = torch.get_rng_state()
    iterator = iter(dataloader)
    torch.set_rng_state(rng)
    return iterator


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that continues an epoch where it was left.

    MMEngine's loop restarts a resumed epoch from its first batch. This
    one records in the message hub (saved in checkpoints) the iteration
    at which the epoch began, and on resume skips the batches trained:
    through the sampler's ``skip`` (:class:`~mmtec.datasets.SeededSampler`),
    else by loading and dropping them (with a warning). Hooks see the
    batch index within the epoch as in an uninterrupted run.

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
                _warn(f'Resumed at iteration {self._iter}, epoch '
                      f'{self._epoch}, from a checkpoint that does not '
                      'record where the epoch began: the epoch is trained '
                      'from its first batch (the resumed run is not exact).')
            return 0
        done = self._iter - start['iter']
        if not 0 <= done <= per_epoch:
            _warn(f'Resumed at iteration {self._iter}, {done} iterations '
                  f'into epoch {self._epoch}, which has {per_epoch}: the '
                  'batch size or the dataset changed; the epoch is trained '
                  'from its first batch.')
            return 0
        return done

    def _epoch_iterator(self, done: int):
        """An iterator over the epoch's batches after the first ``done``."""
        sampler = getattr(self.dataloader, 'sampler', None)
        batch_size = getattr(self.dataloader, 'batch_size', None)
        skips = done and hasattr(sampler, 'skip') and batch_size
        if skips:
            sampler.skip(done * batch_size)
        iterator = _fresh_iterator(self.dataloader)
        if done and not skips:
            _warn(f'Resuming in epoch {self._epoch}: loading and dropping '
                  f'its first {done} batches ({type(sampler).__name__} '
                  'cannot skip them; SeededSampler can).')
            for _ in range(done):
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


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that skips the trained data by index on resume.

    MMEngine's loop, resumed at iteration N, loads and drops N batches.
    This loop advances the sampler's index stream past the ``N x
    batch_size`` samples this rank has trained and loads what an
    uninterrupted run loads next. That needs ``InfiniteSampler`` with
    torch's plain ``BatchSampler``; otherwise (MMDetection's
    ``AspectRatioBatchSampler``) the trained batches are loaded and
    dropped, with a warning. Exact with ``num_workers=0`` (workers are
    seeded anew at every start). The data iterator and its workers start
    after the ``before_train`` hooks (``PreemptionHook`` shields only
    workers started after it), not when the loop is built.

    Args:
        runner (Runner): See :class:`mmengine.runner.IterBasedTrainLoop`.
        dataloader (DataLoader | dict): The training dataloader.
        max_iters (int): Total training iterations.
        val_begin (int): The iteration that begins validating. Defaults
            to 1.
        val_interval (int): Validation interval. Defaults to 1000.
        dynamic_intervals (list[tuple[int, int]], optional): Changes of
            ``val_interval`` by iteration. Defaults to None.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 max_iters: int, val_begin: int = 1, val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None):
        # MMEngine's __init__, but without starting the data iterator
        BaseLoop.__init__(self, runner, dataloader)
        if int(max_iters) != max_iters:
            raise ValueError(f'max_iters must be a whole number, got '
                             f'{max_iters!r}.')
        self._max_iters, self._max_epochs = int(max_iters), 1
        self._epoch = self._iter = 0
        self.val_begin, self.val_interval = val_begin, val_interval
        self.stop_training = False  # EarlyStoppingHook sets it
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = \
                self.dataloader.dataset.metainfo
        self.dataloader_iterator: Optional[Iterator] = None
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval, dynamic_intervals)

    def _cycle(self) -> Iterator:
        """Batches without end (a finite sampler: ``set_epoch`` each time)."""
        epoch = 0
        while True:
            yield from _fresh_iterator(self.dataloader)
            epoch += 1
            sampler = self._index_sampler()
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(epoch)

    def _index_sampler(self):
        """The sampler of dataset indices (a ``batch_sampler`` wraps it)."""
        batch_sampler = getattr(self.dataloader, 'batch_sampler', None)
        return getattr(batch_sampler, 'sampler', self.dataloader.sampler)

    def _batches(self, trained: int) -> Iterator:
        """The batches from iteration ``trained`` on."""
        sampler = self._index_sampler()
        # a grouping batch sampler (AspectRatioBatchSampler) holds some back
        plain = type(self.dataloader.batch_sampler) is BatchSampler
        if trained and plain and isinstance(sampler, InfiniteSampler):
            skip = trained * self.dataloader.batch_size
            next(itertools.islice(sampler.indices, skip, skip), None)
            return self._cycle()
        batches = self._cycle()
        if trained:
            which = (type(sampler).__name__ if plain else
                     type(self.dataloader.batch_sampler).__name__)
            _warn(f'Resuming at iteration {trained}: loading and dropping '
                  f'the {trained} batches already trained ({which} cannot '
                  'skip them; InfiniteSampler with the plain batch sampler '
                  'can).')
            # the restored random state already follows these loads
            states = (random.getstate(), np.random.get_state(),
                      torch.get_rng_state())
            for _ in range(trained):
                next(batches)
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        return batches

    def run(self) -> torch.nn.Module:
        """Train from the current (possibly resumed) iteration."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self.dataloader_iterator = self._batches(self._iter)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
