from .conditional_adapter_vit import ConditionalAdapterViT
from .encoder_adapter import EncoderAdapter

__all__ = ['ConditionalAdapterViT', 'EncoderAdapter']
