"""TEC's learning-rate schedule: linear warm-up, then cosine to 0."""
from typing import List, Optional

from mmengine.optim.scheduler import CosineAnnealingLR
from mmengine.optim.scheduler.param_scheduler import INF

from mmtec.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class CosineToTrainEndLR(CosineAnnealingLR):
    """MMEngine's ``CosineAnnealingLR``, from ``begin`` to the end of training.

    Give no ``end`` (nor ``T_max``): MMEngine's Runner sets ``end`` to
    ``train_cfg.max_epochs`` and ``T_max`` becomes ``end - begin``, so a
    recipe that changes its epochs changes nothing else. A run that stops
    before ``begin`` (e.g. a 1-epoch smoke test of a recipe with 40 warm-up
    epochs) still builds: the scheduler is simply never reached, where
    ``CosineAnnealingLR`` would refuse ``end <= begin``.

    Args:
        optimizer: Wrapped optimizer.
        begin (int): First step (epoch) of the cosine. Defaults to 0.
        end (int): Set by the Runner. Defaults to INF.
        **kwargs: Other arguments of ``CosineAnnealingLR``.
    """

    def __init__(self, optimizer, *args, begin: int = 0, end: int = INF,
                 **kwargs):
        super().__init__(
            optimizer, *args, begin=begin, end=max(end, begin + 1), **kwargs)


def warmup_cosine_lr(warmup_epochs: int,
                     start_factor: float,
                     max_epochs: Optional[int] = None) -> List[dict]:
    """MMEngine ``param_scheduler`` entries: warm-up, then cosine to 0.

    Both are epoch-based and stepped per iteration; the cosine ends at
    ``train_cfg.max_epochs`` (:class:`CosineToTrainEndLR`). Configs import
    this after their ``_base_`` line (MMEngine reads a file that imports a
    package before ``_base_`` as a lazy-import config).

    Args:
        warmup_epochs (int): Epochs of linear warm-up.
        start_factor (float): Learning-rate factor at the first iteration.
        max_epochs (int, optional): Only needed when the run may be no
            longer than the warm-up: the warm-up is then cut to it (and the
            cosine is never reached).

    Returns:
        list[dict]: The ``param_scheduler`` config.

    Example:
        >>> warmup, cosine = warmup_cosine_lr(40, start_factor=1e-4)
        >>> warmup['end'], cosine['begin'], 'end' in cosine
        (40, 40, False)
        >>> warmup_cosine_lr(2, 1e-3, max_epochs=1)[0]['end']
        1
    """
    if max_epochs is not None:
        warmup_epochs = min(warmup_epochs, max_epochs)
    return [
        dict(type='LinearLR', start_factor=start_factor, by_epoch=True,
             begin=0, end=warmup_epochs, convert_to_iter_based=True),
        dict(type='CosineToTrainEndLR', eta_min=0., by_epoch=True,
             begin=warmup_epochs, convert_to_iter_based=True)
    ]
