"""TEC's losses: the head and its two losses, on the features and on the
attention maps."""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmtec.registry import MODELS


def _positive(name: str, value: float, setting: str, hint: str) -> None:
    """Refuse 0 or less (trains nothing or ascends: a typo, not a recipe)."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f'{name}: {setting} must be a finite number > 0, '
                         f'got {value}{hint}')


@MODELS.register_module()
class PatchRelationTargetHead(BaseModule):
    """Computes TEC's feature loss and attention-map loss.

    Args:
        loss_feature (dict): Config of the feature loss. Defaults to
            ``dict(type='PatchNormFeatureLoss')``.
        loss_attention (dict): Config of the attention loss. Defaults to
            ``dict(type='AttentionMapLoss')``.
        use_attention_target (bool): Compute the attention loss (set by
            :class:`TEC` from its own ``use_attention_target``). Defaults
            to True.
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> head = PatchRelationTargetHead()
        >>> target, mask = torch.randn(2, 16, 8), torch.ones(2, 16)
        >>> exact = (target - target.mean(1, True)) / (
        ...     target.var(1, keepdim=True) + 1e-6).sqrt()
        >>> losses = head.loss(exact, target, mask, torch.zeros(2, 6, 4, 16),
        ...                    torch.randn(2, 6, 4, 16))
        >>> losses['loss_feature'].abs().item() < 1e-6  # exact prediction
        True
        >>> round(losses['loss_attention'].item(), 4)  # uniform: log(16)
        2.7726
    """

    def __init__(self,
                 loss_feature: dict = dict(type='PatchNormFeatureLoss'),
                 loss_attention: dict = dict(type='AttentionMapLoss'),
                 use_attention_target: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if use_attention_target and not loss_attention:
            raise ValueError(
                f'loss_attention={loss_attention!r}: the attention loss needs '
                'a config; to train without the attention target set '
                'model.use_attention_target=False instead.')
        self.loss_feature = MODELS.build(loss_feature)
        self.loss_attention = MODELS.build(
            loss_attention) if use_attention_target else None

    def loss(self, feat_pred: torch.Tensor, feat_target: torch.Tensor,
             mask: torch.Tensor, attn_pred: Optional[torch.Tensor] = None,
             attn_target: Optional[torch.Tensor] = None
             ) -> Dict[str, torch.Tensor]:
        """``loss_feature`` (and ``loss_attention``) of the predictions.

        Args:
            feat_pred (Tensor): ``[B, L, C_base]``.
            feat_target (Tensor): ``[B, L, C_base]`` base features.
            mask (Tensor): ``[B, L]``, 1 for masked patches.
            attn_pred (Tensor, optional): ``[B, 1+topk, H, L]``.
            attn_target (Tensor, optional): ``[B, 1+topk, H, L]``.
        """
        losses = dict(
            loss_feature=self.loss_feature(feat_pred, feat_target, mask))
        if self.loss_attention is not None:
            if attn_pred is None or attn_target is None:
                raise ValueError('The attention loss is configured but no '
                                 'attention prediction/target was given.')
            losses['loss_attention'] = self.loss_attention(
                attn_pred, attn_target)
        return losses


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
            raise ValueError(
                f'norm_dim must be one of {list(dims)}, got {norm_dim!r}')
        _positive('PatchNormFeatureLoss', loss_weight, 'loss_weight',
                  '. TEC always trains on this loss.')
        self.norm_dim = norm_dim
        self._dim = dims[norm_dim]
        self.eps = eps
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
        """The loss of predicted features ``pred`` against the base
        model's ``target`` (both ``[B, L, C]``) over the patches where
        ``mask`` (``[B, L]``) is 1."""
        target = self.normalize(target.float())
        loss = (pred.float() - target).pow(2).mean(dim=-1)
        loss = (loss * mask).sum() / mask.sum().clamp(min=1)
        return self.loss_weight * loss


@MODELS.register_module()
class AttentionMapLoss(nn.Module):
    """Soft cross-entropy between base and predicted attention logits.

    ``p = softmax(T / tau)`` over keys; the loss is
    ``-sum(p * log_softmax(pred))`` averaged over every (image, query row,
    head).

    Args:
        tau (float): Temperature of the target distribution (1.8 for MAE
            bases, 1.0 for iBOT, 1.4 for ViT-L). Defaults to 1.8.
        loss_weight (float): Weight of the loss, > 0. Defaults to 1.0.
    """

    def __init__(self, tau: float = 1.8, loss_weight: float = 1.0):
        super().__init__()
        _positive('AttentionMapLoss', tau, 'tau', '')
        _positive('AttentionMapLoss', loss_weight, 'loss_weight',
                  ". To train without this loss, set the head's "
                  'loss_attention=None.')
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """The loss of predicted logits ``pred`` against the base model's
        ``target``, both ``[B, 1+topk, H, L]``."""
        if pred.shape != target.shape:
            raise ValueError(f'Attention prediction {tuple(pred.shape)} and '
                             f'target {tuple(target.shape)} differ.')
        p = F.softmax(target.float() / self.tau, dim=-1)
        loss = -(p * F.log_softmax(pred.float(), dim=-1)).sum(dim=-1)
        return self.loss_weight * loss.mean()
