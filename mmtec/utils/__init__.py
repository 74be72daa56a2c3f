from .launch import adapt_to_cpu, scale_lr_for_accumulation

__all__ = ['adapt_to_cpu', 'scale_lr_for_accumulation']
