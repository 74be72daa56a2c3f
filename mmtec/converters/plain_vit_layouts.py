"""Canonical plain ViT -> MMPretrain classifier and timm checkpoints."""
from collections import OrderedDict
from typing import Dict

import torch

from .key_table import mmpretrain_to_timm


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
    return OrderedDict(
        (k, v.clone()) for k, v in mmpretrain_to_timm(state_dict).items())
