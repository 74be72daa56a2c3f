from .block_attention import attention_scale, block_qkv
from .checked_loading import CheckedPretrainedMixin, load_state_dict_checked
from .compile import compiled_method, maybe_compile
from .gpu_jpeg_data_preprocessor import (
                                         GPUJPEGDataPreprocessor,
                                         random_resized_crop_params,
)
from .native_bf16 import native_bf16
from .vit_archs import (
                                         BASE_ARCHS,
                                         arch_name,
                                         default_num_heads,
                                         resolve_arch,
                                         standard_arch,
)
from .vit_from_weights import vit_from_weights
from .vit_tokens import embed_tokens, num_prefix_tokens, run_block

__all__ = [
    'CheckedPretrainedMixin', 'load_state_dict_checked',
    'BASE_ARCHS', 'arch_name', 'resolve_arch', 'standard_arch',
    'GPUJPEGDataPreprocessor', 'attention_scale', 'block_qkv',
    'compiled_method', 'embed_tokens', 'maybe_compile', 'native_bf16',
    'random_resized_crop_params', 'default_num_heads', 'vit_from_weights',
    'num_prefix_tokens', 'run_block'
]
