from .vit_tokens import embed_tokens

__all__ = ['embed_tokens']
