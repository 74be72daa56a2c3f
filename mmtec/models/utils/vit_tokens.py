"""The token sequence an MMPretrain ViT's first block sees."""
from typing import Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed


def embed_tokens(vit: VisionTransformer,
                 img: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
    """Patch embedding, class token and (resized) position embedding, then
    the registers a DINOv2 file brought (``vit.register_tokens``, without
    position embedding, after the class token) and CLIP's pre-norm.

    Args:
        vit (VisionTransformer): A ViT with a class token.
        img (Tensor): Images ``[B, C, H, W]``.

    Returns:
        tuple: tokens ``[B, 1+L, C]`` and the patch grid ``(h, w)``.
    """
    x, hw = vit.patch_embed(img)
    x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
    x = x + resize_pos_embed(
        vit.pos_embed,
        vit.patch_resolution,
        hw,
        mode=vit.interpolate_mode,
        num_extra_tokens=1)
    registers = getattr(vit, 'register_tokens', None)
    if registers is not None:
        x = torch.cat([x[:, :1], registers.expand(x.shape[0], -1, -1),
                       x[:, 1:]], dim=1)
    return vit.pre_norm(x), hw


def num_prefix_tokens(vit: VisionTransformer) -> int:
    """Tokens before the patches: the class token and any registers."""
    registers = getattr(vit, 'register_tokens', None)
    return 1 + (0 if registers is None else registers.shape[1])
