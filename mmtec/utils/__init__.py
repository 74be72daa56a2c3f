from .resume import (
                     check_loaded_checkpoint,
                     checkpoint_folders,
                     find_resumable_checkpoint,
)

__all__ = [
    'check_loaded_checkpoint', 'checkpoint_folders',
    'find_resumable_checkpoint'
]
