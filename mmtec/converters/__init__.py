"""Checkpoint layouts: any ViT layout -> the canonical plain ViT
(:func:`read_vit`), and the canonical ViT -> downstream layouts and files.

Files are read through :mod:`mmtec.checkpoint`'s loader.
"""
from mmtec.checkpoint import save_converted

from .downstream_layouts import (
    canonical_to_mmdet,
    canonical_to_mmdet_state_dict,
    canonical_to_mmpretrain,
    canonical_to_mmseg,
    canonical_to_mmseg_state_dict,
    canonical_to_timm,
)
from .key_table import mmpretrain_to_timm, timm_to_mmpretrain
from .layout_reader import (
    drop_final_norm,
    is_bare_vit_key,
    read_vit,
    resize_abs_pos_embed,
    vit_arch,
)

__all__ = [
    'read_vit', 'vit_arch', 'is_bare_vit_key', 'drop_final_norm',
    'resize_abs_pos_embed', 'mmpretrain_to_timm', 'timm_to_mmpretrain',
    'canonical_to_mmpretrain', 'canonical_to_timm', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'canonical_to_mmseg',
    'canonical_to_mmseg_state_dict', 'save_converted'
]
