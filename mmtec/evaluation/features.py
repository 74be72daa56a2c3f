"""Frozen plain ViTs from any checkpoint layout
(:func:`mmtec.converters.read_vit`), and feature extraction."""
import sys
from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar
from mmpretrain.models.backbones import VisionTransformer
from torch import nn

from mmtec.converters import read_vit
from mmtec.models.utils import (
    attention_scale,
    block_qkv,
    embed_tokens,
    num_prefix_tokens,
    vit_from_weights,
)

FEATURE_TYPES = ('cls', 'mean', 'cls+mean')


class FrozenViT(nn.Module):
    """A plain ViT in eval mode that returns pooled features.

    Args:
        vit (VisionTransformer): The backbone (``out_type='raw'``).
        has_final_norm (bool): The checkpoint had a final norm (applied by
            ``vit``). Without one (e.g. TEC's released files) an affine-free
            LayerNorm is used, so features are comparable across layouts.
        info (dict): What :func:`read_vit` read from the checkpoint.
    """

    def __init__(self, vit: VisionTransformer, has_final_norm: bool,
                 info: dict):
        super().__init__()
        self.vit = vit
        self.has_final_norm = has_final_norm
        self.info = info
        self.requires_grad_(False)
        self.eval()

    @property
    def num_heads(self) -> int:
        return self.vit.layers[0].attn.num_heads

    @torch.no_grad()
    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        """Normalised output tokens ``[B, 1+L, C]`` (class token first, no
        registers) of images ``[B, 3, H, W]``."""
        x, _ = embed_tokens(self.vit, img)
        for layer in self.vit.layers:
            x = layer(x)
        x = torch.cat([x[:, :1], x[:, num_prefix_tokens(self.vit):]], 1)
        if not self.has_final_norm:
            return F.layer_norm(x, x.shape[-1:], eps=1e-6)
        return self.vit.ln1(x)

    @torch.no_grad()
    def forward(self, img: torch.Tensor, feature: str = 'mean'):
        """Pooled features ``[B, C]`` (``[B, 2C]`` for ``'cls+mean'``).

        Args:
            img (Tensor): Normalised images ``[B, 3, H, W]``.
            feature (str): ``'cls'`` (class token), ``'mean'`` (average of
                the patch tokens) or ``'cls+mean'`` (both, concatenated).
        """
        if feature not in FEATURE_TYPES:
            raise ValueError(f'feature must be one of {FEATURE_TYPES}, got '
                             f'{feature!r}')
        x = self.tokens(img)
        parts = dict(cls=[x[:, 0]], mean=[x[:, 1:].mean(dim=1)])
        parts['cls+mean'] = parts['cls'] + parts['mean']
        return torch.cat(parts[feature], dim=1)

    @torch.no_grad()
    def cls_attention(self, img: torch.Tensor,
                      layer: int = -1) -> torch.Tensor:
        """Softmax attention ``[B, H, h, w]`` of the class-token query to
        the patch keys, per head (the class key dropped).

        Args:
            img (Tensor): Normalised images ``[B, 3, H, W]``.
            layer (int): Block whose attention is returned. Defaults to -1
                (the last).
        """
        layers = self.vit.layers
        layer = layer % len(layers)
        x, hw = embed_tokens(self.vit, img)
        for blk in layers[:layer]:
            x = blk(x)
        q, k, _ = block_qkv(layers[layer], x)
        logits = (q[:, :, :1] @ k.transpose(-2, -1)) * attention_scale(
            layers[layer])
        probs = logits.softmax(dim=-1)[:, :, 0, num_prefix_tokens(self.vit):]
        return probs.reshape(x.shape[0], q.shape[1], *hw)


def load_frozen_vit(checkpoint: Union[str, dict],
                    num_heads: Optional[int] = None,
                    img_size: Optional[int] = None,
                    quick_gelu: bool = False) -> FrozenViT:
    """Rebuild a ViT from a checkpoint of any supported layout, its
    architecture read off the weights
    (:func:`mmtec.models.utils.vit_from_weights`).

    Args:
        checkpoint (str | dict): Path (or loaded dict) of the checkpoint.
        num_heads (int, optional): Attention heads (not in a state dict).
            Defaults to the standard ViT size's for this width and depth
            (``BASE_ARCHS``), else ``embed_dims // 64``.
        img_size (int, optional): Input size of the position embedding.
            Defaults to the trained size (others are interpolated anyway).
        quick_gelu (bool): QuickGELU MLPs (OpenAI's CLIP). Defaults to
            False.
    """
    state, info = read_vit(checkpoint)
    vit = vit_from_weights(state, info, num_heads=num_heads,
                           img_size=img_size, quick_gelu=quick_gelu,
                           final_norm=True)
    info = dict(info, num_heads=vit.layers[0].attn.num_heads,
                img_size=vit.img_size[0])
    return FrozenViT(vit, info['has_final_norm'], info)


class Normalize(nn.Module):
    """``(img - mean) / std`` on ``[B, C, H, W]`` (0-255 inputs).

    Args:
        mean (Sequence[float]): Per-channel mean.
        std (Sequence[float]): Per-channel std.
        to_rgb (bool): Flip BGR to RGB first (MMPretrain's ``to_rgb``).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 to_rgb: bool = False):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(std).view(1, -1, 1, 1))
        self.to_rgb = to_rgb

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        img = img.float()
        if self.to_rgb and img.shape[1] == 3:
            img = img[:, [2, 1, 0]]
        return (img - self.mean) / self.std


@torch.no_grad()
def extract_features(fn: Callable[[torch.Tensor], torch.Tensor], dataset,
                     normalize: nn.Module, batch_size: int = 256,
                     device: Union[str, torch.device] = 'cpu',
                     progress: bool = True,
                     desc: str = '') -> Dict[str, torch.Tensor]:
    """``feats`` ``[N, C]`` (float32, CPU) and ``labels`` ``[N]`` of a
    dataset whose pipeline ends in ``PackInputs``.

    Args:
        fn (callable): Maps normalised images ``[B, 3, H, W]`` on ``device``
            to features ``[B, C]``.
        dataset: An MMPretrain dataset with labels.
        normalize (nn.Module): Applied to the uint8 images first.
        batch_size (int): Defaults to 256.
        device (str | torch.device): Defaults to 'cpu'.
        progress (bool): Show a progress bar with an ETA. Defaults to True.
        desc (str): Printed before the progress bar.
    """
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False,
        collate_fn=lambda batch: batch)
    normalize = normalize.to(device)
    if progress and desc:
        print(desc, flush=True)
    bar = ProgressBar(len(dataset)) if progress else None
    feats, labels = [], []
    for batch in loader:
        imgs = torch.stack([b['inputs'] for b in batch]).to(device)
        feats.append(fn(normalize(imgs)).float().cpu())
        labels.append(torch.tensor(
            [int(b['data_samples'].gt_label) for b in batch]))
        if bar:
            bar.update(len(batch))
    if bar:
        sys.stdout.write('\n')
    return dict(feats=torch.cat(feats), labels=torch.cat(labels))
