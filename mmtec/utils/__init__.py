from .resume import (
                     check_loaded_checkpoint,
                     checkpoint_folders,
                     find_resumable_checkpoint,
)
from .trust_argument import add_trust_argument

__all__ = [
    'add_trust_argument', 'check_loaded_checkpoint', 'checkpoint_folders',
    'find_resumable_checkpoint'
]
