from .launch import (adapt_to_cpu, check_learning_rates,
                     fit_dataloaders_to_workers, scale_lr_for_accumulation)
from .resume import find_resumable_checkpoint

__all__ = [
    'adapt_to_cpu', 'check_learning_rates', 'find_resumable_checkpoint',
    'fit_dataloaders_to_workers', 'scale_lr_for_accumulation'
]
