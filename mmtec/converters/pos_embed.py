"""The one resizer of absolute position tables read from checkpoints."""
import math

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import resize_pos_embed

from mmtec.checkpoint import CheckpointLayoutError


def resize_abs_pos_embed(pos_embed: torch.Tensor, dst_tokens: int,
                         num_extra_tokens: int = 1,
                         mode: str = 'bicubic', antialias: bool = False,
                         offset: float = 0.) -> torch.Tensor:
    """Resize a ``[1, extra + s*s, C]`` table to ``dst_tokens`` tokens.

    MMPretrain's ``resize_pos_embed`` does the work (bicubic,
    ``align_corners=False`` by default); the extra (class) tokens are kept.
    ``antialias`` and ``offset`` resize as a producer does (the reader's
    ``info['pos_embed_resize']``), in fp32.

    Args:
        pos_embed (Tensor): The checkpoint's table.
        dst_tokens (int): Tokens of the model's table, extra ones included.
        num_extra_tokens (int): Leading tokens that are not on the grid.
        mode (str): Interpolation mode. Defaults to 'bicubic'.
        antialias (bool): Antialias when shrinking (OpenCLIP, DINOv2 with
            registers). Defaults to False.
        offset (float): Interpolate by the scale factor ``(d + offset) /
            s`` instead of to the size ``d`` (DINOv2: 0.1). Defaults to 0.
    """
    src_grid = pos_embed.shape[1] - num_extra_tokens
    dst_grid = dst_tokens - num_extra_tokens
    s, d = math.isqrt(max(src_grid, 0)), math.isqrt(max(dst_grid, 0))
    if s * s != src_grid or d * d != dst_grid or pos_embed.ndim != 3:
        raise CheckpointLayoutError(
            f'pos_embed of shape {tuple(pos_embed.shape)} cannot be resized '
            f'to {dst_tokens} tokens: it is not {num_extra_tokens} extra '
            'token(s) + a square grid.')
    if s == d or not (antialias or offset):
        return resize_pos_embed(pos_embed, (s, s), (d, d), mode,
                                num_extra_tokens)
    grid = pos_embed[:, num_extra_tokens:].float().reshape(1, s, s, -1)
    size = dict(scale_factor=((d + offset) / s, ) * 2) if offset else dict(
        size=(d, d))
    grid = F.interpolate(grid.permute(0, 3, 1, 2), mode=mode,
                         antialias=antialias, **size).permute(0, 2, 3, 1)
    return torch.cat([pos_embed[:, :num_extra_tokens],
                      grid.reshape(1, d * d, -1).to(pos_embed.dtype)], 1)
