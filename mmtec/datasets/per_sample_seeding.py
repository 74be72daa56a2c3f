"""Make a sample's random augmentation depend on nothing but what it is."""
import random
from typing import List, Sequence

import numpy as np
import torch


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for sample ``index`` in ``epoch`` of a run seeded with
    ``seed`` (well mixed: neighbouring samples get unrelated streams)."""
    words = np.random.SeedSequence(
        [seed % 2**64, epoch, index]).generate_state(2, dtype=np.uint64)
    return int(words[0])


class SampleKey(int):
    """A dataset index that carries the seed of the sample's randomness.

    Used as a plain ``int`` by anything else, so datasets, wrappers and
    loaders that do not know it index the dataset as usual.

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
    """``dataset.__getitems__`` that seeds each sample from its key.

    PyTorch's DataLoader fetches a batch through ``__getitems__`` when the
    dataset has one. For each :class:`SampleKey` this reseeds python's,
    numpy's and torch's (CPU) global generators from the key's seed, gets
    the sample, and puts the generators back as they were: in a loader
    worker the sample does not depend on which worker got it or what that
    worker fetched before (persistent workers or not, resumed or not); in
    the main process (``num_workers=0``) training's own random draws are
    untouched by data loading. Plain indices are fetched unseeded.

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


def seed_samples(dataset) -> None:
    """Fetch ``dataset``'s batches through :class:`SeededFetch`."""
    if not isinstance(getattr(dataset, '__getitems__', None), SeededFetch):
        dataset.__getitems__ = SeededFetch(dataset)
