"""TEC's head: the losses on the patch-relation enhanced targets."""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule

from mmtec.registry import MODELS


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

    def loss(self,
             feat_pred: torch.Tensor,
             feat_target: torch.Tensor,
             mask: torch.Tensor,
             attn_pred: Optional[torch.Tensor] = None,
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
