"""A sampler whose samples are augmented the same way however they are
loaded: with or without workers, straight through or resumed."""
import random
from typing import Iterator, List, Optional, Sequence, Sized

import numpy as np
import torch
from mmengine.dataset import DefaultSampler

from mmtec.registry import DATA_SAMPLERS


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for sample ``index`` in ``epoch`` of a run seeded with
    ``seed`` (well mixed: neighbouring samples get unrelated streams)."""
    words = np.random.SeedSequence(
        [seed % 2**64, epoch, index]).generate_state(2, dtype=np.uint64)
    return int(words[0])


class SampleKey(int):
    """A dataset index (an ``int``) carrying the seed of its randomness.

    Args:
        index (int): The dataset index.
        seed (int): See :func:`sample_seed`.
    """

    def __new__(cls, index: int, seed: int):
        key = super().__new__(cls, index)
        key.seed = seed
        return key

    def __getnewargs__(self):  # sent to loader workers by pickle
        return int(self), self.seed


class SeededFetch:
    """``dataset.__getitems__`` (torch's DataLoader fetches batches through
    it) that seeds python's, numpy's and torch's CPU generators from each
    :class:`SampleKey`, fetches the sample and puts the generators back: a
    sample does not depend on the worker or what it fetched before, and
    training's own draws are untouched. Plain indices are fetched unseeded.

    Args:
        dataset: The dataset whose items are fetched.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __call__(self, keys: Sequence[int]) -> List:
        return [self.fetch(key) for key in keys]

    def fetch(self, key: int):
        seed = getattr(key, 'seed', None)
        if seed is None:
            return self.dataset[key]
        saved = (random.getstate(), np.random.get_state(),
                 torch.get_rng_state())
        try:
            random.seed(seed)
            np.random.seed(seed % 2**32)
            # the CPU generator only: torch.manual_seed would reseed CUDA
            torch.default_generator.manual_seed(seed)
            return self.dataset[int(key)]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` that makes each sample's randomness a function of
    (seed, epoch, index), and can start an epoch part way.

    The order is ``DefaultSampler``'s; each index is a :class:`SampleKey`
    and the dataset fetches through :class:`SeededFetch`, so neither
    restarted workers (each epoch, after a resume) nor ``num_workers``
    change the augmentation.

    Args:
        dataset (Sized): The dataset (its batches are then fetched through
            ``SeededFetch``).
        shuffle (bool): Shuffle the dataset each epoch. Defaults to True.
        seed (int, optional): Shared by all ranks; None: a random one,
            synchronised between them. Defaults to None.
        round_up (bool): Repeat samples so that every rank gets as many.
            Defaults to True.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: Optional[int] = None, round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed,
                         round_up=round_up)
        if not isinstance(getattr(dataset, '__getitems__', None),
                          SeededFetch):
            dataset.__getitems__ = SeededFetch(dataset)
        self._skip = 0

    def skip(self, num_samples: int) -> None:
        """Leave out the first ``num_samples`` of this rank in the next
        pass (resuming in the middle of an epoch)."""
        self._skip = num_samples

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return iter([
            SampleKey(i, sample_seed(self.seed, self.epoch, i))
            for i in list(super().__iter__())[skip:]
        ])
