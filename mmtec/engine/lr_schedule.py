"""Learning-rate schedules: linear warm-up, then cosine to 0."""
import math
from typing import List, Optional

from mmengine.optim.scheduler import CosineAnnealingLR
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmtec.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class CosineToTrainEndLR(CosineAnnealingLR):
    """MMEngine's ``CosineAnnealingLR``, from ``begin`` to the end of training.

    Give no ``end`` (nor ``T_max``): the Runner sets ``end`` to
    ``train_cfg.max_epochs``. A run that stops before ``begin`` (a 1-epoch
    smoke test of a recipe with 40 warm-up epochs) still builds, where
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


def warmup_cosine_lr(warmup_epochs: int, start_factor: float,
                     max_epochs: Optional[int] = None) -> List[dict]:
    """MMEngine ``param_scheduler`` entries: warm-up, then cosine to 0 at
    ``train_cfg.max_epochs``, both stepped per iteration. Configs import
    this after their ``_base_`` line (else MMEngine reads a lazy config).

    Args:
        warmup_epochs (int): Epochs of linear warm-up.
        start_factor (float): Learning-rate factor at the first iteration.
        max_epochs (int, optional): Only needed when the run may be no
            longer than the warm-up: the warm-up is then cut to it.

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


@PARAM_SCHEDULERS.register_module()
class WarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Linear warm-up from 0, then half-cosine, per accumulation window.

    MAE's and TEC's ``adjust_learning_rate``: before each update the lr is
    set from the fractional epoch ``e`` of the window's first micro-batch
    to ``lr * e / warmup_epochs`` (0 at the first update), then to
    ``eta_min + (lr - eta_min) * (1 + cos(pi * (e - warmup) / (epochs -
    warmup))) / 2``. A group with an ``lr_scale`` (layer decay) gets that
    value times its scale. Accumulation windows start at each epoch's first
    iteration (:class:`~mmtec.engine.hooks.ExactResumeHook`); the
    window length is the optim wrapper's ``accumulative_counts``.

    Configure it by epochs with ``convert_to_iter_based=True`` and no
    ``end``: the Runner passes the epoch length and ``max_epochs``.

    Args:
        optimizer (OptimWrapper | Optimizer): Wrapped optimizer.
        warmup_epochs (float): Epochs of linear warm-up.
        eta_min (float): Learning rate at the end (absolute, before
            ``lr_scale``). Defaults to 0.
        epoch_length (int): Iterations per epoch (set by the Runner).
        begin (int): Must be 0: ``e`` counts from the start of training.
        end (int): Last iteration (set by the Runner from max_epochs).
        last_step (int): As MMEngine's schedulers. Defaults to -1.
        by_epoch (bool): False once converted to iterations.
        verbose (bool): Print each value. Defaults to False.

    Example:
        >>> import torch
        >>> from mmengine.optim import OptimWrapper
        >>> opt = OptimWrapper(torch.optim.SGD([torch.zeros(1)], lr=1.),
        ...                    accumulative_counts=2)
        >>> s = WarmupCosineLR.build_iter_from_epoch(
        ...     opt, warmup_epochs=1, end=2, epoch_length=5)
        >>> lrs = []
        >>> for _ in range(10):
        ...     lrs.append(round(opt.param_groups[0]['lr'], 4)); s.step()
        >>> lrs  # an update uses the value of its window's first iteration
        [0.0, 0.0, 0.4, 0.4, 0.8, 1.0, 1.0, 0.6545, 0.6545, 0.0955]
    """

    def __init__(self, optimizer, warmup_epochs: float, eta_min: float = 0.,
                 epoch_length: Optional[int] = None, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = False,
                 verbose: bool = False):
        if by_epoch or not epoch_length or end == INF or begin != 0:
            raise ValueError(
                'WarmupCosineLR needs by_epoch=True, '
                'convert_to_iter_based=True, begin=0 and no end in its '
                'param_scheduler config (the Runner then sets the '
                'iterations per epoch and the end from train_cfg.max_epochs)')
        if warmup_epochs < 0:
            raise ValueError(
                f'WarmupCosineLR: warmup_epochs={warmup_epochs} must be >= 0')
        self.warmup_epochs, self.eta_min = warmup_epochs, eta_min
        self.epoch_length = epoch_length
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=INF, by_epoch=True,
                              epoch_length=None, **kwargs):
        """Build from an epoch-based config (MMEngine's conversion)."""
        if by_epoch and epoch_length == 0:
            raise ValueError(
                'WarmupCosineLR: the training dataloader has no iterations '
                'per epoch (with drop_last=True it needs batch_size x GPUs '
                'images at least)')
        if not by_epoch or not epoch_length:
            raise ValueError('WarmupCosineLR: convert_to_iter_based needs '
                             'by_epoch=True and the epoch length')
        if end != INF:
            end = int(end * epoch_length)
        return cls(*args, begin=int(begin * epoch_length), end=end,
                   by_epoch=False, epoch_length=epoch_length, **kwargs)

    def epoch_fraction(self, step: int) -> float:
        """``e`` of the accumulation window holding iteration ``step``."""
        accumulate = getattr(self.optimizer, '_accumulative_counts', 1)
        epoch, i = divmod(step, self.epoch_length)
        return (i - i % accumulate) / self.epoch_length + epoch

    def _get_value(self) -> List[float]:
        e = self.epoch_fraction(self.last_step)
        warmup, epochs = self.warmup_epochs, self.end / self.epoch_length
        values = []
        for peak, group in zip(self.base_values, self.optimizer.param_groups):
            scale = group.get('lr_scale')
            if scale is not None:
                peak = peak / scale  # the unscaled lr (layer decay)
            if e < warmup:
                lr = peak * e / warmup
            else:
                lr = self.eta_min + (peak - self.eta_min) * 0.5 * (
                    1. + math.cos(math.pi * (e - warmup) / (epochs - warmup)))
            values.append(lr if scale is None else lr * scale)
        return values
