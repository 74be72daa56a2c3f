"""Reading checkpoints: the one loader, the layout reader, checked loading.
"""
from .checked_loading import CheckedPretrainedMixin, load_state_dict_checked
from .download import load_from_url
from .errors import (BackboneCheckpointError, CheckpointDownloadError,
                     CheckpointError, CheckpointLayoutError,
                     CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .key_table import mmpretrain_to_timm, timm_to_mmpretrain
from .layout_reader import (describe_arch, describe_plain_vit, detect_layout,
                            is_bare_vit_key, merge_class_token,
                            read_state_dict, to_canonical, to_plain_vit,
                            unwrap_state_dict)
from .pos_embed import resize_abs_pos_embed
from .safe_load import (SAFETENSORS_META_KEY, register_safe_local_loader,
                        safe_load)
from .trust import is_trusted, trust_checkpoint

__all__ = [
    'safe_load', 'load_from_url', 'register_safe_local_loader',
    'SAFETENSORS_META_KEY',
    'to_plain_vit', 'read_state_dict', 'to_canonical', 'detect_layout',
    'unwrap_state_dict', 'merge_class_token', 'describe_plain_vit',
    'describe_arch', 'is_bare_vit_key', 'timm_to_mmpretrain',
    'mmpretrain_to_timm', 'resize_abs_pos_embed', 'CheckedPretrainedMixin',
    'load_state_dict_checked', 'CheckpointError', 'CheckpointNotFoundError',
    'CheckpointDownloadError', 'EmptyCheckpointError', 'NotACheckpointError',
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'CheckpointLayoutError',
    'BackboneCheckpointError', 'trust_checkpoint', 'is_trusted'
]
