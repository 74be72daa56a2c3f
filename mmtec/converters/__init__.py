"""Writers: the canonical plain ViT -> downstream layouts and files.

Reading (any layout -> canonical) lives in :mod:`mmtec.checkpoint`.
"""
from mmtec.checkpoint import BackboneCheckpointError
from .file_writer import save_converted
from .mmdet_layout import (canonical_to_mmdet, canonical_to_mmdet_state_dict,
                           save_mmdet_checkpoint)
from .mmseg_layout import (canonical_to_mmseg, canonical_to_mmseg_state_dict,
                           save_mmseg_checkpoint)
from .plain_vit_layouts import canonical_to_mmpretrain, canonical_to_timm

__all__ = [
    'canonical_to_mmpretrain', 'canonical_to_timm',
    'BackboneCheckpointError', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'save_mmdet_checkpoint',
    'canonical_to_mmseg', 'canonical_to_mmseg_state_dict',
    'save_mmseg_checkpoint', 'save_converted'
]
