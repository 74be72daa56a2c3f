"""Converters from the canonical plain-ViT layout to downstream layouts."""
from .mmdet_layout import (BackboneCheckpointError, canonical_to_mmdet,
                           canonical_to_mmdet_state_dict,
                           save_mmdet_checkpoint)
from .mmseg_layout import (canonical_to_mmseg, canonical_to_mmseg_state_dict,
                           save_mmseg_checkpoint)

__all__ = [
    'BackboneCheckpointError', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'save_mmdet_checkpoint',
    'canonical_to_mmseg', 'canonical_to_mmseg_state_dict',
    'save_mmseg_checkpoint'
]
