"""Which ViT a checkpoint holds: the standard sizes (the one table of
width, depth, heads and MLP width, read by the base model, the frozen-feature
tools and the evaluation) and the builder of the ViT a file's shapes say."""
import math
from typing import Dict, Optional, Union

import torch
from mmengine.logging import MMLogger
from mmpretrain.models.backbones import VisionTransformer
from torch import nn

from mmtec.checkpoint import CheckpointLayoutError
from mmtec.converters import drop_final_norm, resize_abs_pos_embed

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


def vit_from_weights(state: Dict[str, torch.Tensor], info: dict,
                     arch: Union[str, dict, None] = None,
                     num_heads: Optional[int] = None,
                     img_size: Optional[int] = None,
                     quick_gelu: bool = False,
                     norm_cfg: Optional[dict] = None,
                     final_norm: bool = False) -> VisionTransformer:
    """The one builder of a ViT from the weights ``read_vit`` read: all
    sizes and block options from the file (DINOv2's registers as
    ``register_tokens``), the heads, which no file stores, from
    :func:`default_num_heads` unless set; the position table resized to
    ``img_size`` as the file's producer does. What was found is logged.

    Args:
        state (dict): Canonical weights (``read_vit``).
        info (dict): What ``read_vit`` read.
        arch (str | dict, optional): Overrides the detected sizes (see
            :func:`resolve_arch`); must fit the file. Defaults to None.
        num_heads (int, optional): Overrides the detected heads only.
        img_size (int, optional): Input size the position table is laid out
            for. Defaults to the release's (its grid times its patch).
        quick_gelu (bool): QuickGELU MLPs (OpenAI's CLIP). Defaults to
            False (GELU).
        norm_cfg (dict, optional): Defaults to LN, eps 1e-5 for OpenCLIP
            files (as CLIP), else 1e-6.
        final_norm (bool): Keep the file's final norm, when it has one.
            Defaults to False.
    """
    source, hidden, swiglu = (info['source'], info['feedforward_channels'],
                              info['swiglu'])
    found = (info['embed_dims'], info['num_layers'], hidden)
    if arch is None:
        settings = dict(
            embed_dims=found[0], num_layers=found[1],
            num_heads=num_heads or default_num_heads(found[0], found[1]),
            feedforward_channels=math.ceil(hidden * 1.5) if swiglu else hidden)
    else:
        settings = resolve_arch(arch)
    ffn, heads = settings['feedforward_channels'], settings['num_heads']
    expected = (settings['embed_dims'], settings['num_layers'],
                # SwiGLUFFNFused (MMPretrain's, DINOv2's) shrinks the MLP
                (int(ffn * 2 / 3) + 7) // 8 * 8 if swiglu else ffn)
    if expected != found:
        name = standard_arch(*found[:2])
        name = f"'{name}'" if name else 'a dict arch'
        raise CheckpointLayoutError(
            f'Base checkpoint {source} ({info["layout"]} layout) is a ViT '
            f'with embed_dims={found[0]}, depth={found[1]}, mlp={found[2]}, '
            f'but the arch set expects embed_dims={expected[0]}, '
            f'depth={expected[1]}, mlp={expected[2]}. Leave arch unset (the '
            f'file says what it is), set it to {name} (a '
            'dict arch for other heads), or use the matching checkpoint.')
    if found[0] % heads:
        raise ValueError(f'embed_dims={found[0]} of {source} is not '
                         f'divisible by num_heads={heads}.')
    side, patch = math.isqrt(info['num_patches']), info['patch_size']
    layer_cfgs = dict(ffn_type='swiglu_fused') if swiglu else {}
    if quick_gelu:
        layer_cfgs['act_cfg'] = dict(type='mmpretrain.QuickGELU')
    eps = 1e-5 if info['layout'] == 'openclip' else 1e-6
    vit = VisionTransformer(
        arch=settings, img_size=img_size or side * patch, patch_size=patch,
        in_channels=info['in_channels'], qkv_bias=info['qkv_bias'],
        norm_cfg=norm_cfg or dict(type='LN', eps=eps),
        final_norm=final_norm and info['has_final_norm'], out_type='raw',
        # any non-zero value creates the layer-scale parameters to load
        layer_scale_init_value=1e-5 if info['layer_scale'] else 0.,
        pre_norm=info['pre_norm'], layer_cfgs=layer_cfgs,
        patch_cfg=dict(bias='patch_embed.projection.bias' in state))
    if info['num_registers']:
        vit.register_tokens = nn.Parameter(
            torch.zeros(1, info['num_registers'], settings['embed_dims']))
    state = dict(state) if vit.final_norm else drop_final_norm(state)
    state['pos_embed'] = resize_abs_pos_embed(
        state['pos_embed'], vit.pos_embed.shape[1], 1, vit.interpolate_mode,
        **info['pos_embed_resize'])
    result = vit.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointLayoutError(
            f'Checkpoint {source} ({info["layout"]} layout) does not fit the '
            f'ViT built from it: missing keys {result.missing_keys[:8]}, '
            f'unexpected keys {result.unexpected_keys[:8]}.')
    MMLogger.get_current_instance().info(
        f'ViT from {source} ({info["layout"]} layout): '
        f'embed_dims={found[0]} depth={found[1]} heads='
        f'{heads} ({"set" if arch or num_heads else "from the width"}) '
        f'patch={patch} release grid={side}x{side} '
        f'registers={info["num_registers"]} layer_scale={info["layer_scale"]}'
        f' pre_norm={info["pre_norm"]} mlp='
        f'{"SwiGLU" if swiglu else "QuickGELU" if quick_gelu else "GELU"}.')
    return vit
