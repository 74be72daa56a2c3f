"""The standard ViT sizes: width, depth, heads and MLP width of each.

The one table of these facts; the base model, the frozen-feature tools and
the evaluation read it from here.
"""
from typing import Optional, Union

# Self-supervised ViT names; note that MMPretrain's own 's' is not ViT-S.
BASE_ARCHS = {
    's': dict(embed_dims=384, num_layers=12, num_heads=6,
              feedforward_channels=1536),
    'b': dict(embed_dims=768, num_layers=12, num_heads=12,
              feedforward_channels=3072),
    'l': dict(embed_dims=1024, num_layers=24, num_heads=16,
              feedforward_channels=4096),
    'h': dict(embed_dims=1280, num_layers=32, num_heads=16,
              feedforward_channels=5120),
}

_ARCH_ALIASES = {
    alias: key
    for key, names in dict(
        s=('small', 'vit-s'),
        b=('base', 'vit-b'),
        l=('large', 'vit-l'),
        h=('huge', 'vit-h')).items() for alias in (key, *names)
}


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Turn ``'s'|'b'|'l'|'h'`` (or a full dict) into ViT settings.

    Example:
        >>> resolve_arch('vit-h')['num_heads']
        16
    """
    if isinstance(arch, dict):
        return dict(arch)
    if arch.lower() not in _ARCH_ALIASES:
        raise ValueError(f'Unknown ViT arch {arch!r}: use one of '
                         f'{list(BASE_ARCHS)} or a dict with embed_dims, '
                         'num_layers, num_heads, feedforward_channels.')
    return dict(BASE_ARCHS[_ARCH_ALIASES[arch.lower()]])


def standard_arch(embed_dims: int, num_layers: int) -> Optional[str]:
    """The name of the standard size of this width and depth, or None.

    Example:
        >>> standard_arch(1280, 32), standard_arch(192, 6)
        ('h', None)
    """
    for name, cfg in BASE_ARCHS.items():
        if (cfg['embed_dims'], cfg['num_layers']) == (embed_dims, num_layers):
            return name
    return None


def default_num_heads(embed_dims: int, num_layers: int) -> int:
    """Heads of a ViT whose file does not say: the standard size's (ViT-H:
    16), else 64 dims per head (DINOv2 ViT-g: 24).

    Example:
        >>> default_num_heads(1280, 32), default_num_heads(1536, 40)
        (16, 24)
    """
    name = standard_arch(embed_dims, num_layers)
    return BASE_ARCHS[name]['num_heads'] if name else max(1, embed_dims // 64)


def arch_name(embed_dims: int, num_layers: int) -> str:
    """How an error message names the arch setting for these sizes."""
    name = standard_arch(embed_dims, num_layers)
    return f"'{name}'" if name else 'a dict arch'
