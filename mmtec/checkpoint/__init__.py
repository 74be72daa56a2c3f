"""Reading checkpoints: the one loader, its schemes, the layout reader,
checked loading into backbones."""
from .checked_loading import CheckedPretrainedMixin, load_state_dict_checked
from .download import load_from_url
from .errors import (BackboneCheckpointError, CheckpointDownloadError,
                     CheckpointError, CheckpointLayoutError,
                     CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .key_table import mmpretrain_to_timm, timm_to_mmpretrain
from .layout_reader import (detect_layout, is_bare_vit_key, merge_class_token,
                            read_vit, vit_arch)
from .pos_embed import resize_abs_pos_embed
from .loader import SAFETENSORS_META_KEY, safe_load
from .schemes import register_safe_schemes
from .trust import is_trusted, trust_checkpoint

__all__ = [
    'safe_load', 'load_from_url', 'register_safe_schemes',
    'SAFETENSORS_META_KEY', 'read_vit', 'vit_arch', 'detect_layout',
    'merge_class_token', 'is_bare_vit_key', 'timm_to_mmpretrain',
    'mmpretrain_to_timm', 'resize_abs_pos_embed', 'CheckedPretrainedMixin',
    'load_state_dict_checked', 'CheckpointError', 'CheckpointNotFoundError',
    'CheckpointDownloadError', 'EmptyCheckpointError', 'NotACheckpointError',
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'CheckpointLayoutError',
    'BackboneCheckpointError', 'trust_checkpoint', 'is_trusted'
]
