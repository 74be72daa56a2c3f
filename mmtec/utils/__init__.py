from .gpu_decode import apply_gpu_decode, gpu_jpeg_decode_unavailable
from .launch import (adapt_amp_to_gpu, adapt_to_cpu,
                     drop_unsupported_fused_optimizer,
                     scale_lr_for_accumulation)

__all__ = [
    'adapt_amp_to_gpu', 'adapt_to_cpu', 'apply_gpu_decode',
    'drop_unsupported_fused_optimizer', 'gpu_jpeg_decode_unavailable',
    'scale_lr_for_accumulation'
]
