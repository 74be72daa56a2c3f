"""A sampler whose samples are augmented the same way however they are
loaded: with or without workers, straight through or resumed."""
from typing import Iterator, Optional, Sized

from mmengine.dataset import DefaultSampler

from mmtec.registry import DATA_SAMPLERS

from .per_sample_seeding import SampleKey, sample_seed, seed_samples


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` that makes each sample's randomness a function of
    (seed, epoch, index), and can start an epoch part way.

    The order is MMEngine's ``DefaultSampler``'s (a permutation drawn from
    ``seed + epoch``, split between ranks). Each index is yielded as a
    :class:`~mmtec.datasets.per_sample_seeding.SampleKey` carrying
    ``sample_seed(seed, epoch, index)``, and the dataset fetches batches
    through :class:`~mmtec.datasets.per_sample_seeding.SeededFetch`, which
    seeds the random augmentation of each sample from it. MMEngine seeds
    each loader worker once, with the same seed every epoch, so persistent
    workers continue their random streams across epochs while restarted
    ones (every epoch without ``persistent_workers``, and after a resume)
    start over; here neither matters, and ``num_workers`` does not change
    the augmentation either.

    Args:
        dataset (Sized): The dataset (its batches are then fetched through
            ``SeededFetch``).
        shuffle (bool): Shuffle the dataset each epoch. Defaults to True.
        seed (int, optional): Shared by all ranks; None: a random one,
            synchronised between them. Defaults to None.
        round_up (bool): Repeat samples so that every rank gets as many.
            Defaults to True.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed,
                         round_up=round_up)
        seed_samples(dataset)
        self._skip = 0

    def skip(self, num_samples: int) -> None:
        """Leave out the first ``num_samples`` of this rank in the next
        pass (resuming in the middle of an epoch)."""
        self._skip = num_samples

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        indices = list(super().__iter__())[skip:]
        return iter([
            SampleKey(i, sample_seed(self.seed, self.epoch, i))
            for i in indices
        ])
