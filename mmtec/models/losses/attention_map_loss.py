"""TEC's attention-map loss: soft cross-entropy against base logits."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from mmtec.registry import MODELS


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
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f'AttentionMapLoss: tau must be a finite '
                             f'number > 0, got {tau}')
        if not (math.isfinite(loss_weight) and loss_weight > 0):
            # 0 or less trains nothing (or ascends): a typo, not a recipe
            raise ValueError(
                'AttentionMapLoss: loss_weight must be a finite number > 0, '
                f'got {loss_weight}. To train without this loss, set the '
                "head's loss_attention=None.")
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): ``[B, 1+topk, H, L]`` predicted logits.
            target (Tensor): ``[B, 1+topk, H, L]`` base-model logits.
        """
        if pred.shape != target.shape:
            raise ValueError(f'Attention prediction {tuple(pred.shape)} and '
                             f'target {tuple(target.shape)} differ.')
        p = F.softmax(target.float() / self.tau, dim=-1)
        loss = -(p * F.log_softmax(pred.float(), dim=-1)).sum(dim=-1)
        return self.loss_weight * loss.mean()
