"""Reading checkpoint files: the one loader, every MMEngine scheme through
it, verified downloads, paths/URLs/model names resolved in one place, the
trust opt-in, one error class per failure."""
from .download import load_from_url
from .errors import (
                     BackboneCheckpointError,
                     CheckpointDownloadError,
                     CheckpointError,
                     CheckpointLayoutError,
                     CheckpointNotFoundError,
                     CorruptCheckpointError,
                     EmptyCheckpointError,
                     NotACheckpointError,
                     UnsafeCheckpointError,
)
from .loader import SAFETENSORS_META_KEY, safe_load
from .resolve import load_path_url_or_name, weights_url
from .schemes import register_safe_schemes
from .trust import is_trusted, trust_checkpoint

__all__ = [
    'safe_load', 'load_from_url', 'load_path_url_or_name', 'weights_url',
    'register_safe_schemes',
    'SAFETENSORS_META_KEY', 'CheckpointError', 'CheckpointNotFoundError',
    'CheckpointDownloadError', 'EmptyCheckpointError', 'NotACheckpointError',
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'CheckpointLayoutError',
    'BackboneCheckpointError', 'trust_checkpoint', 'is_trusted'
]
