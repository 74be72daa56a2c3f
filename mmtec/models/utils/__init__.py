from .checked_loading import CheckedPretrainedMixin
from .gpu_jpeg_data_preprocessor import (
    GPUJPEGDataPreprocessor,
    random_resized_crop_params,
)
from .speed_switches import compiled_method, native_bf16
from .vit_archs import BASE_ARCHS, resolve_arch, vit_from_weights
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
