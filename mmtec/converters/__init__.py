"""Converters from the canonical plain-ViT layout to downstream layouts."""
from .mmdet_layout import (BackboneCheckpointError, canonical_to_mmdet,
                           canonical_to_mmdet_state_dict,
                           save_mmdet_checkpoint)
from .plain_vit_layouts import canonical_to_mmpretrain, canonical_to_timm
from .mmseg_layout import (canonical_to_mmseg, canonical_to_mmseg_state_dict,
                           save_mmseg_checkpoint)

__all__ = [
    'canonical_to_mmpretrain', 'canonical_to_timm',
    'BackboneCheckpointError', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'save_mmdet_checkpoint',
    'canonical_to_mmseg', 'canonical_to_mmseg_state_dict',
    'save_mmseg_checkpoint'
]
