"""TEC's models, registered in MMPretrain's ``MODELS``."""
from .algorithms.tec import TEC
from .backbones.conditional_adapter_vit import (
    ConditionalAdapterViT,
    EncoderAdapter,
)
from .backbones.pretrained_vision_transformer import (
    PretrainedVisionTransformer,
)
from .classifiers.tec_image_classifier import TECImageClassifier
from .losses.tec_losses import (
    AttentionMapLoss,
    PatchNormFeatureLoss,
    PatchRelationTargetHead,
)
from .necks.tec_decoder import TECDecoder
from .target_generators import TECTargetGenerator

__all__ = [
    'TEC', 'ConditionalAdapterViT', 'EncoderAdapter',
    'PretrainedVisionTransformer', 'TECImageClassifier',
    'PatchRelationTargetHead', 'AttentionMapLoss', 'PatchNormFeatureLoss',
    'TECDecoder', 'TECTargetGenerator'
]
