"""Checkpoint loading and layout conversion."""
from .checked_loading import BackboneCheckpointError, load_state_dict_checked
from .errors import (CheckpointError, CheckpointLayoutError,
                     CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .safe_load import register_safe_local_loader, safe_load
from .trust import is_trusted, trust_checkpoint
from .vit_layouts import (describe_plain_vit, detect_layout, merge_class_token,
                          to_plain_vit, unwrap_state_dict)

__all__ = [
    'safe_load', 'register_safe_local_loader', 'to_plain_vit',
    'detect_layout', 'unwrap_state_dict', 'merge_class_token',
    'describe_plain_vit', 'CheckpointLayoutError', 'BackboneCheckpointError',
    'load_state_dict_checked', 'CheckpointError', 'CheckpointNotFoundError',
    'EmptyCheckpointError', 'NotACheckpointError', 'CorruptCheckpointError',
    'UnsafeCheckpointError', 'trust_checkpoint', 'is_trusted'
]
