"""Inside an MMPretrain ViT: the token sequence its first block sees, one
block call that may recompute its activations in the backward pass, and a
block's queries and keys (its ``TransformerEncoderLayer`` returns only its
output; attention targets and maps need the logits)."""
from typing import Optional, Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch.utils.checkpoint import checkpoint


def embed_tokens(vit: VisionTransformer,
                 img: torch.Tensor,
                 cls_token: Optional[torch.Tensor] = None
                 ) -> Tuple[torch.Tensor, tuple]:
    """Tokens ``[B, 1+L, C]`` and patch grid ``(h, w)``: the sequence
    MMPretrain's ``VisionTransformer.forward`` feeds its first block, with
    DINOv2's ``vit.register_tokens`` after the class token.

    Args:
        vit (VisionTransformer): A ViT (with or without a class token).
        img (Tensor): Images ``[B, C, H, W]``.
        cls_token (Tensor, optional): The class token ``[1, 1, C]`` to use
            instead of ``vit.cls_token`` (e.g. after an input adapter).
    """
    x, hw = vit.patch_embed(img)
    cls_token = vit.cls_token if cls_token is None else cls_token
    if cls_token is not None:
        x = torch.cat([cls_token.expand(x.shape[0], -1, -1), x], dim=1)
    x = x + resize_pos_embed(
        vit.pos_embed, vit.patch_resolution, hw, mode=vit.interpolate_mode,
        num_extra_tokens=0 if cls_token is None else 1)
    x = vit.drop_after_pos(x)  # as MMPretrain's forward (identity in eval)
    registers = getattr(vit, 'register_tokens', None)
    if registers is not None:
        first = 0 if cls_token is None else 1
        x = torch.cat([x[:, :first], registers.expand(x.shape[0], -1, -1),
                       x[:, first:]], dim=1)
    return vit.pre_norm(x), hw


def num_prefix_tokens(vit: VisionTransformer) -> int:
    """Tokens before the patches: the class token and any registers."""
    registers = getattr(vit, 'register_tokens', None)
    return 1 + (0 if registers is None else registers.shape[1])


def run_block(block: torch.nn.Module, x: torch.Tensor,
              with_cp: bool) -> torch.Tensor:
    """``block(x)``; with ``with_cp``, while autograd records, the block's
    activations are not kept but recomputed in the backward pass
    (activation checkpointing: less memory, one more forward per block).

    Example:
        >>> block = torch.nn.Linear(4, 4)
        >>> x = torch.randn(2, 4, requires_grad=True)
        >>> torch.equal(run_block(block, x, True), block(x))
        True
    """
    if with_cp and torch.is_grad_enabled():
        return checkpoint(block, x, use_reentrant=False)
    return block(x)


def block_qkv(layer, x: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``q, k, v`` ``[B, H, N, head_dims]`` of a block on its input.

    Args:
        layer (TransformerEncoderLayer): The block.
        x (Tensor): The block's input ``[B, N, C]`` (before ``ln1``).
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
