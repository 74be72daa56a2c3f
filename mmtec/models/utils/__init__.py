from .checked_loading import CheckedPretrainedMixin
from .compile import compiled_method
from .gpu_jpeg_data_preprocessor import (
    GPUJPEGDataPreprocessor,
    random_resized_crop_params,
)
from .native_bf16 import native_bf16
from .vit_archs import BASE_ARCHS, resolve_arch
from .vit_from_weights import vit_from_weights
from .vit_tokens import (
    attention_scale,
    block_qkv,
    embed_tokens,
    num_prefix_tokens,
    run_block,
)

__all__ = [
    'CheckedPretrainedMixin', 'BASE_ARCHS', 'resolve_arch',
    'GPUJPEGDataPreprocessor', 'attention_scale', 'block_qkv',
    'compiled_method', 'embed_tokens', 'native_bf16',
    'random_resized_crop_params', 'vit_from_weights', 'num_prefix_tokens',
    'run_block'
]
