"""Reading checkpoint files: the one loader, every MMEngine scheme through
it, verified downloads, the trust opt-in, one error class per failure."""
from .download import load_from_url
from .errors import (BackboneCheckpointError, CheckpointDownloadError,
                     CheckpointError, CheckpointLayoutError,
                     CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .loader import SAFETENSORS_META_KEY, safe_load
from .schemes import register_safe_schemes
from .trust import is_trusted, trust_checkpoint

__all__ = [
    'safe_load', 'load_from_url', 'register_safe_schemes',
    'SAFETENSORS_META_KEY', 'CheckpointError', 'CheckpointNotFoundError',
    'CheckpointDownloadError', 'EmptyCheckpointError', 'NotACheckpointError',
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'CheckpointLayoutError',
    'BackboneCheckpointError', 'trust_checkpoint', 'is_trusted'
]
