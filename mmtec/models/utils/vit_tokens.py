"""The token sequence a plain MMPretrain ViT's first block sees."""
from typing import Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed


def embed_tokens(vit: VisionTransformer,
                 img: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
    """Patch embedding, class token and (resized) position embedding.

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
    return x, hw
