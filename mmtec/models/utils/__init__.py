from .block_attention import attention_scale, block_qkv
from .checked_loading import CheckedPretrainedMixin, load_state_dict_checked
from .compile import compiled_method, maybe_compile
from .gpu_jpeg_data_preprocessor import (GPUJPEGDataPreprocessor,
                                         random_resized_crop_params)
from .vit_tokens import embed_tokens

__all__ = [
    'CheckedPretrainedMixin', 'load_state_dict_checked',
    'GPUJPEGDataPreprocessor', 'attention_scale', 'block_qkv',
    'compiled_method', 'embed_tokens', 'maybe_compile',
    'random_resized_crop_params'
]
