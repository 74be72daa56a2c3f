"""Checkpoint files in and out: the one loader, every name a checkpoint can
have through it, verified downloads, the trust opt-in, numpy and MMEngine
objects as plain data, atomic writes, one error class per failure."""
from .atomic_write import (
    TMP_SUFFIX,
    fsync_replace,
    save_converted,
    write_atomically,
)
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
    NotPlainDataError,
    UnsafeCheckpointError,
)
from .loader import SAFETENSORS_META_KEY, safe_load
from .plain_data import from_plain, to_plain
from .resolve import load_path_url_or_name, register_safe_schemes, weights_url
from .trust import add_trust_argument, trust_checkpoint

__all__ = [
    'safe_load', 'load_from_url', 'load_path_url_or_name', 'weights_url',
    'register_safe_schemes', 'SAFETENSORS_META_KEY', 'CheckpointError',
    'CheckpointNotFoundError', 'CheckpointDownloadError',
    'EmptyCheckpointError', 'NotACheckpointError', 'CorruptCheckpointError',
    'UnsafeCheckpointError', 'CheckpointLayoutError',
    'BackboneCheckpointError', 'NotPlainDataError', 'trust_checkpoint',
    'add_trust_argument', 'to_plain', 'from_plain', 'TMP_SUFFIX',
    'fsync_replace', 'write_atomically',
    'save_converted'
]
