"""The standard ViT sizes: width, depth, heads and MLP width of each.

The one table of these facts; the base model, the frozen-feature tools and
the evaluation read it from here.
"""
from typing import Optional, Union

from mmpretrain.models import VisionTransformer

# Self-supervised ViT names, sizes from MMPretrain's table; note that
# MMPretrain's own 's' is not ViT-S (its 'deit-s' is)
BASE_ARCHS = {name: dict(VisionTransformer.arch_zoo[key]) for name, key in
              dict(s='deit-s', b='b', l='l', h='h').items()}
_ALIASES = dict(small='s', base='b', large='l', huge='h',
                **{'vit-' + k: k for k in 'sblh'})


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Turn ``'s'|'b'|'l'|'h'`` (or a full dict) into ViT settings.

    Example:
        >>> resolve_arch('vit-h')['num_heads']
        16
    """
    if isinstance(arch, dict):
        return dict(arch)
    name = _ALIASES.get(arch.lower(), arch.lower())
    if name not in BASE_ARCHS:
        raise ValueError(f'Unknown ViT arch {arch!r}: use one of '
                         f'{list(BASE_ARCHS)} or a dict with embed_dims, '
                         'num_layers, num_heads, feedforward_channels.')
    return dict(BASE_ARCHS[name])


def standard_arch(embed_dims: int, num_layers: int) -> Optional[str]:
    """The name of the standard size of this width and depth, or None.

    Example:
        >>> standard_arch(1280, 32), standard_arch(192, 6)
        ('h', None)
    """
    return next((name for name, cfg in BASE_ARCHS.items()
                 if (cfg['embed_dims'], cfg['num_layers']) == (
                     embed_dims, num_layers)), None)


def default_num_heads(embed_dims: int, num_layers: int) -> int:
    """Heads of a ViT whose file does not say: the standard size's (ViT-H:
    16), else 64 dims per head (DINOv2 ViT-g: 24).

    Example:
        >>> default_num_heads(1280, 32), default_num_heads(1536, 40)
        (16, 24)
    """
    name = standard_arch(embed_dims, num_layers)
    return BASE_ARCHS[name]['num_heads'] if name else max(1, embed_dims // 64)
