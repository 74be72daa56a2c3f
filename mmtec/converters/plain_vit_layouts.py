"""Canonical plain ViT -> MMPretrain classifier and timm checkpoints."""
import re
from collections import OrderedDict
from typing import Dict

import torch

# MMPretrain ViT names -> timm ViT names (inverse of the loader's mapping).
_MMPRETRAIN_TO_TIMM = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
]


def canonical_to_mmpretrain(state_dict: Dict[str, torch.Tensor],
                            meta: dict = None) -> dict:
    """A checkpoint MMPretrain's ``VisionTransformer`` loads with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
    (or ``load_from`` into an ``ImageClassifier``).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.
        meta (dict, optional): Stored as the checkpoint's ``meta``.

    Returns:
        dict: ``{'state_dict': {'backbone.<key>': tensor}, 'meta': meta}``.
    """
    return dict(
        state_dict=OrderedDict(
            ('backbone.' + k, v.clone()) for k, v in state_dict.items()),
        meta=dict(meta or {}))


def canonical_to_timm(state_dict: Dict[str, torch.Tensor]) -> dict:
    """A bare timm-style ViT state dict (the TEC released layout).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.

    Returns:
        dict: timm names (``cls_token``, ``pos_embed``, ``patch_embed.proj``,
        ``blocks.N.*``, ``norm.*``) to tensors.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, repl in _MMPRETRAIN_TO_TIMM:
            new_key, n = re.subn(pattern, repl, new_key)
            if n:
                break
        out[new_key] = value.clone()
    return out
