"""An iteration-based training loop that resumes without reloading data."""
import itertools
import logging
import random
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import BatchSampler, DataLoader

from mmtec.registry import LOOPS


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that skips the trained data by index on resume.

    MMEngine's loop, resumed at iteration N, loads and drops N batches (at
    iteration 100,000 of the ViTDet schedule, 100,000 batches through the
    LSJ pipeline). This loop advances the sampler's index stream past the
    ``N x batch_size`` samples this rank has trained and loads the batches
    an uninterrupted run would load next, in the same order. That needs
    ``InfiniteSampler`` with torch's plain ``BatchSampler``; otherwise
    (e.g. MMDetection's ``AspectRatioBatchSampler``) the trained batches
    are loaded and dropped, with a warning. Exact with ``num_workers=0``;
    workers are seeded anew at every start (their augmentations differ,
    not the images or their order).

    The data iterator (and the workers) starts with training, after the
    ``before_train`` hooks (``PreemptionHook`` shields only workers started
    after it), not when the loop is built; the seed its creation draws
    from torch's generator is given back.

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

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None):
        # MMEngine's __init__ also starts the data iterator (and workers);
        # the rest of it is restated here so that nothing is loaded yet
        BaseLoop.__init__(self, runner, dataloader)
        if int(max_iters) != max_iters:
            raise ValueError(f'max_iters must be a whole number, got '
                             f'{max_iters!r}.')
        self._max_iters = int(max_iters)
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False  # EarlyStoppingHook sets it
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = \
                self.dataloader.dataset.metainfo
        self.dataloader_iterator: Optional[Iterator] = None
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval, dynamic_intervals)

    def _new_iterator(self) -> Iterator:
        rng = torch.get_rng_state()
        iterator = iter(self.dataloader)
        torch.set_rng_state(rng)  # undo the loader's seed draw
        return iterator

    def _cycle(self) -> Iterator:
        """Batches without end; a finite sampler restarts with
        ``set_epoch``, as in MMEngine's loop."""
        epoch = 0
        while True:
            yield from self._new_iterator()
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
        # torch's BatchSampler takes batch_size indices per batch; a
        # grouping one (MMDetection's AspectRatioBatchSampler) holds some back
        plain = type(self.dataloader.batch_sampler) is BatchSampler
        if trained and plain and isinstance(sampler, InfiniteSampler):
            skip = trained * self.dataloader.batch_size
            next(itertools.islice(sampler.indices, skip, skip), None)
            return self._cycle()
        batches = self._cycle()
        if trained:
            which = (type(sampler).__name__ if plain else
                     type(self.dataloader.batch_sampler).__name__)
            print_log(
                f'Resuming at iteration {trained}: loading and dropping the '
                f'{trained} batches already trained ({which} cannot skip '
                'them; InfiniteSampler with the plain batch sampler can).',
                logger='current', level=logging.WARNING)
            # the random state restored on resume already follows these
            # loads: their draws must not count twice
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
