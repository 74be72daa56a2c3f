from .launch import (adapt_amp_to_gpu, adapt_to_cpu,
                     drop_unsupported_fused_optimizer,
                     scale_lr_for_accumulation)

__all__ = [
    'adapt_amp_to_gpu', 'adapt_to_cpu', 'drop_unsupported_fused_optimizer',
    'scale_lr_for_accumulation'
]
