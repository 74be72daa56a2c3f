"""Queries and keys of one MMPretrain ViT block, for attention targets/maps.

MMPretrain's ``TransformerEncoderLayer`` only returns its output; code that
needs a block's attention logits (TEC's base model, attention-map
evaluation) computes ``q``/``k`` from the block's own weights here, in one
place, instead of each reaching into the layer's attributes.
"""
from typing import Tuple

import torch


def block_qkv(layer, x: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``q, k, v`` of ``layer`` (``TransformerEncoderLayer``) on its input.

    Args:
        layer: An MMPretrain ViT block (``ln1`` then ``attn.qkv``).
        x (Tensor): The block's input tokens ``[B, N, C]`` (before ``ln1``).

    Returns:
        tuple: ``q, k, v``, each ``[B, H, N, head_dims]``.
    """
    attn = layer.attn
    B, N, _ = x.shape
    qkv = attn.qkv(layer.ln1(x)).reshape(B, N, 3, attn.num_heads,
                                         attn.head_dims)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return q, k, v


def attention_scale(layer) -> float:
    """The block's logit scale ``head_dims ** -0.5``."""
    return layer.attn.head_dims**-0.5
