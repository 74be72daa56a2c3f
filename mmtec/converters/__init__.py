"""Checkpoint layouts: any ViT layout -> the canonical plain ViT
(:func:`read_vit`), and the canonical ViT -> downstream layouts and files.

Files are read through :mod:`mmtec.checkpoint`'s loader.
"""
from mmtec.checkpoint import BackboneCheckpointError, save_converted

from .key_table import mmpretrain_to_timm, timm_to_mmpretrain
from .layout_reader import (
                            detect_layout,
                            is_bare_vit_key,
                            merge_class_token,
                            read_vit,
                            vit_arch,
)
from .mmdet_layout import (
                            canonical_to_mmdet,
                            canonical_to_mmdet_state_dict,
                            save_mmdet_checkpoint,
)
from .mmseg_layout import (
                            canonical_to_mmseg,
                            canonical_to_mmseg_state_dict,
                            save_mmseg_checkpoint,
)
from .plain_vit_layouts import canonical_to_mmpretrain, canonical_to_timm
from .pos_embed import resize_abs_pos_embed

__all__ = [
    'read_vit', 'vit_arch', 'detect_layout', 'is_bare_vit_key',
    'merge_class_token', 'mmpretrain_to_timm', 'timm_to_mmpretrain',
    'resize_abs_pos_embed', 'canonical_to_mmpretrain', 'canonical_to_timm',
    'BackboneCheckpointError', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'save_mmdet_checkpoint',
    'canonical_to_mmseg', 'canonical_to_mmseg_state_dict',
    'save_mmseg_checkpoint', 'save_converted'
]
