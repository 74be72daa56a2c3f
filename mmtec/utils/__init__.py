from .gpu_decode import apply_gpu_decode, gpu_jpeg_decode_unavailable
from .launch import (
                     adapt_amp_to_gpu,
                     adapt_to_cpu,
                     apply_auto_scale_lr,
                     check_learning_rates,
                     check_training_length,
                     drop_unsupported_fused_optimizer,
                     fit_dataloaders_to_workers,
                     scale_lr_for_accumulation,
)
from .trust_argument import add_trust_argument

__all__ = [
    'add_trust_argument', 'adapt_amp_to_gpu', 'adapt_to_cpu',
    'apply_auto_scale_lr', 'apply_gpu_decode', 'check_learning_rates',
    'check_training_length', 'drop_unsupported_fused_optimizer',
    'fit_dataloaders_to_workers',
    'gpu_jpeg_decode_unavailable', 'scale_lr_for_accumulation'
]
