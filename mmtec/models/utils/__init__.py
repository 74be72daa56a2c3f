from .block_attention import attention_scale, block_qkv
from .compile import compiled_method, maybe_compile
from .vit_tokens import embed_tokens

__all__ = [
    'attention_scale', 'block_qkv', 'compiled_method', 'embed_tokens',
    'maybe_compile'
]
