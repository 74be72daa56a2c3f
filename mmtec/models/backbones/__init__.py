from .conditional_adapter_vit import ConditionalAdapterViT
from .encoder_adapter import EncoderAdapter
from .pretrained_vision_transformer import PretrainedVisionTransformer

__all__ = [
    'ConditionalAdapterViT', 'EncoderAdapter', 'PretrainedVisionTransformer'
]
