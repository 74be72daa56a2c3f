"""TEC's feature loss on patch-relation normalised base features."""
import math

import torch
from torch import nn

from mmtec.registry import MODELS


@MODELS.register_module()
class PatchNormFeatureLoss(nn.Module):
    """Squared error against base features normalised along patches.

    The target ``F`` ``[B, L, C]`` is normalised per image and channel
    *across the L patches* (mean over patches, unbiased variance,
    ``sqrt(var + eps)``), so the new model learns relations between patches
    rather than absolute values. The error is averaged over channels, then
    over the masked patches only.

    Args:
        norm_dim (str): ``'patch'`` (TEC) normalises over patches;
            ``'channel'`` normalises each patch over its channels (the
            per-patch ablation); ``'none'`` uses raw features.
            Defaults to 'patch'.
        eps (float): Added to the variance. Defaults to 1e-6.
        loss_weight (float): Weight of the loss, > 0. Defaults to 1.0.
    """

    def __init__(self,
                 norm_dim: str = 'patch',
                 eps: float = 1e-6,
                 loss_weight: float = 1.0):
        super().__init__()
        dims = {'patch': 1, 'channel': -1, 'none': None}
        if norm_dim not in dims:
            raise ValueError(f'norm_dim must be one of {list(dims)}, got '
                             f'{norm_dim!r}')
        self.norm_dim = norm_dim
        self._dim = dims[norm_dim]
        self.eps = eps
        if not (math.isfinite(loss_weight) and loss_weight > 0):
            # 0 or less trains nothing (or ascends): a typo, not a recipe
            raise ValueError(
                'PatchNormFeatureLoss: loss_weight must be a finite number '
                f'> 0, got {loss_weight}. TEC always trains on this loss.')
        self.loss_weight = loss_weight

    def normalize(self, target: torch.Tensor) -> torch.Tensor:
        """Normalise the target ``[B, L, C]`` as configured."""
        if self._dim is None:
            return target
        mean = target.mean(dim=self._dim, keepdim=True)
        var = target.var(dim=self._dim, keepdim=True, unbiased=True)
        return (target - mean) / (var + self.eps).sqrt()

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[B, L, C]`` predicted features.
            target (Tensor): ``[B, L, C]`` base-model features.
            mask (Tensor): ``[B, L]``, 1 for masked (removed) patches.
        """
        target = self.normalize(target.float())
        loss = (pred.float() - target).pow(2).mean(dim=-1)
        loss = (loss * mask).sum() / mask.sum().clamp(min=1)
        return self.loss_weight * loss
