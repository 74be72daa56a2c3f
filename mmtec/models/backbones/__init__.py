from .conditional_adapter_vit import ConditionalAdapterViT, EncoderAdapter
from .pretrained_vision_transformer import PretrainedVisionTransformer

__all__ = [
    'ConditionalAdapterViT', 'EncoderAdapter', 'PretrainedVisionTransformer'
]
