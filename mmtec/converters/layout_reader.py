"""The one layout reader: any ViT checkpoint -> the canonical plain ViT
(MMPretrain's ``VisionTransformer`` keys, ``pos_embed`` with a class slot,
plus DINOv2's ``register_tokens``); also the one final-norm switch and the
one resizer of position tables."""
import math
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import resize_pos_embed

from mmtec.checkpoint import (
    BackboneCheckpointError,
    CheckpointLayoutError,
    load_path_url_or_name,
)

from .key_table import OPENCLIP, rename_keys, timm_to_mmpretrain

# Where the weights sit inside a checkpoint dict, in order of preference.
_CONTAINER_KEYS = ('state_dict', 'model', 'teacher', 'student', 'module')
# Prefixes that wrap a backbone (DDP, iBOT/DINO wrappers, MMPretrain).
_WRAPPERS = re.compile(r'((module|backbone|encoder)\.)*')
_STEM_KEY = 'patch_embed.projection.weight'
# Parts of a checkpoint that are not the ViT encoder and are dropped.
_IGNORED = re.compile(
    r'^(head\.|fc_norm\.|neck\.|decoder|mask_token|target_generator\.|'
    r'data_preprocessor\.|forward_fea_decoder\.|forward_att_decoder\.|'
    r'encoder_adaptor\.|encoder_adapter\.|pre_logits\.|masked_embed)')
# mmtec's input adapter (an FFN): fc1 weight and bias, fc2 weight and bias
_ADAPTER_KEYS = tuple(f'input_adapter.layers.{layer}.{name}'
                      for layer in ('0.0', '1') for name in ('weight', 'bias'))
FINAL_NORM = 'ln1.'  # the canonical name of the final norm


def drop_final_norm(state: Dict[str, torch.Tensor]
                    ) -> Dict[str, torch.Tensor]:
    """``state`` without the final norm, for models that have none."""
    return OrderedDict(
        (k, v) for k, v in state.items() if not k.startswith(FINAL_NORM))


def _strip_wrappers(state: Dict) -> Tuple[Dict, List[str]]:
    """Drop the ``module.``/``backbone.``/``encoder.`` prefix read off the
    patch-embedding key; also return the keys outside it (an MMPretrain
    ``head.*``, an mmtec ``neck.*``), which tell the layout."""
    stems = [k for k in state if k.endswith(
        ('patch_embed.proj.weight', 'patch_embed.projection.weight'))]
    prefix = stems[0][:stems[0].index('patch_embed.')] if stems else ''
    if len(stems) != 1 or not prefix or not _WRAPPERS.fullmatch(prefix):
        return state, []  # an unknown wrapper is left to the checks
    return ({k[len(prefix):]: v for k, v in state.items()
             if k.startswith(prefix)},
            [k for k in state if not k.startswith(prefix)])


def _layout(state: Dict, outer: List[str], source: str) -> str:
    """The layout of wrapper-free weights; ``'tec_raw'`` is the TEC
    authors' training checkpoint, ``'timm'`` also MAE, iBOT, DINO, DeiT."""
    if any(k.endswith('visual.class_embedding') for k in state):
        return 'openclip'
    if any(k.startswith(('input_adapter.', 'encoder_adapter.'))
           for k in state) or any(
               k.startswith('neck.feature_branch.') for k in outer):
        return 'mmtec'
    if _STEM_KEY in state:
        return 'mmpretrain'
    if 'patch_embed.proj.weight' in state:
        if any(k.startswith(('cls_token_mlp.', 'encoder_adaptor.'))
               for k in state):
            return 'tec_raw'
        mask_token = state.get('mask_token')
        return 'dinov2' if getattr(mask_token, 'ndim', 0) == 2 else 'timm'
    raise CheckpointLayoutError(
        f'Unknown checkpoint layout of {source}: no ViT patch embedding '
        '(`patch_embed.proj.weight` or `patch_embed.projection.weight`, '
        'optionally under module./backbone.) was found. First keys: '
        f'{sorted(state)[:8]}. Supported: MAE, iBOT/DINO, DeiT/timm, DINOv2,'
        ' OpenCLIP, MMPretrain, TEC released, TEC raw training and mmtec '
        'pretraining checkpoints of a ViT.')


# one small converter per layout, from wrapper-free keys to canonical
def _from_timm(state: Dict) -> Dict:
    state = timm_to_mmpretrain(state)
    pos = state.get('pos_embed')
    if 'cls_token' in state and pos is not None and pos.ndim == 3 and \
            math.isqrt(pos.shape[1])**2 == pos.shape[1]:
        # no class slot (DeiT-III, timm's no_embed_class): a zero one adds
        # nothing to the class token, as the producer does
        state['pos_embed'] = F.pad(pos, (0, 0, 1, 0))
    return state


def _from_openclip(state: Dict) -> Dict:
    key = next(k for k in state if k.endswith('visual.class_embedding'))
    prefix = key[:-len('class_embedding')]  # text tower and head dropped
    visual = {k[len(prefix):]: v for k, v in state.items()
              if k.startswith(prefix) and k != prefix + 'proj'}
    visual['cls_token'] = visual.pop('class_embedding').reshape(1, 1, -1)
    visual['pos_embed'] = visual.pop('positional_embedding')[None]
    return rename_keys(visual, OPENCLIP)


_CONVERTERS = dict(mmtec=dict, mmpretrain=dict, openclip=_from_openclip,
                   tec_raw=_from_timm, timm=_from_timm, dinov2=_from_timm)

# beyond any ViT in use (ViT-G has 1664 dims, 48 blocks, patch 14): a file
# claiming more is refused before a model is built from its shapes
_ARCH_LIMITS = dict(embed_dims=8192, num_layers=256, patch_size=64,
                    in_channels=16, feedforward_channels=65536,
                    num_patches=65536)


def vit_arch(state: Dict[str, torch.Tensor], source: str = '<dict>') -> dict:
    """The architecture of a canonical ViT state dict, read off its shapes:
    sizes (``feedforward_channels`` for SwiGLU one half's, ``num_patches``
    without the class slot) and block options (``has_final_norm``, ...).

    Args:
        state (dict): Canonical weights.
        source (str): Where they came from, for messages.
    """
    swiglu = 'layers.0.ffn.w12.weight' in state
    fc1 = 'layers.0.ffn.w12.weight' if swiglu else \
        'layers.0.ffn.layers.0.0.weight'
    missing = [k for k in ('cls_token', 'pos_embed', _STEM_KEY, fc1)
               if k not in state]
    if missing:
        raise CheckpointLayoutError(
            f'{source} is missing the ViT weights {missing}.')
    layer_ids = sorted({int(m.group(1)) for m in
                        (re.match(r'^layers\.(\d+)\.', k) for k in state)
                        if m})
    if layer_ids != list(range(len(layer_ids))):
        raise CheckpointLayoutError(
            f'{source} has transformer blocks {layer_ids}: expected '
            'consecutive blocks starting at 0.')
    proj = state[_STEM_KEY]
    arch = dict(
        embed_dims=int(proj.shape[0]),
        num_layers=len(layer_ids),
        patch_size=int(proj.shape[-1]),
        in_channels=int(proj.shape[1]),
        feedforward_channels=int(state[fc1].shape[0]) // (1 + swiglu),
        num_patches=int(state['pos_embed'].shape[1]) - 1)
    absurd = {k: v for k, v in arch.items() if v > _ARCH_LIMITS[k]}
    if absurd:
        raise CheckpointLayoutError(
            f'{source} claims a ViT of {absurd}, beyond any real model '
            f'(limits {_ARCH_LIMITS}); the file is damaged or crafted.')
    registers = state.get('register_tokens')
    arch.update(
        has_final_norm=FINAL_NORM + 'weight' in state, swiglu=swiglu,
        layer_scale='layers.0.attn.gamma1.weight' in state,
        pre_norm='pre_norm.weight' in state,
        qkv_bias='layers.0.attn.qkv.bias' in state,
        num_registers=0 if registers is None else int(registers.shape[1]))
    return arch


def read_vit(checkpoint: Union[str, dict],
             prefix: Optional[str] = None,
             strict: bool = True,
             trust: bool = False,
             merge_input_adapter: bool = True
             ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read a ViT checkpoint of any supported layout as the canonical one:
    the file through :func:`~mmtec.checkpoint.load_path_url_or_name`, the
    weights found in it, its layout named and converted.

    Args:
        checkpoint (str | dict): A file path, an http(s) URL, a model name
            of MMPretrain's model hub or an already loaded checkpoint.
        prefix (str, optional): Keep only the keys under this prefix and
            strip it (a backbone's ``init_cfg``), before anything else.
        strict (bool): Raise on keys that are neither ViT weights nor known
            extras (heads, decoders); with False they are kept (e.g.
            relative position tables). Defaults to True.
        trust (bool): The config marks the file as trusted (see
            :func:`~mmtec.checkpoint.safe_load`). Defaults to False.
        merge_input_adapter (bool): Evaluate a TEC input adapter into the
            class token (a plain ViT); with False the adapter is kept as
            ``input_adapter.*``, to fine-tune it as the authors do.
            Defaults to True.

    Returns:
        tuple: ``(state_dict, info)``, ``info`` with ``layout``,
        ``container``, ``source``, ``pos_embed_resize``, ``input_adapter``
        (``'merged'``, ``'kept'`` or None) and the :func:`vit_arch` facts.

    Example:
        >>> import torch
        >>> from mmpretrain.models import VisionTransformer
        >>> vit = VisionTransformer(arch=dict(embed_dims=64, num_layers=2,
        ...     num_heads=4, feedforward_channels=128), img_size=32,
        ...     patch_size=8)
        >>> state, info = read_vit({'state_dict': vit.state_dict()})
        >>> info['layout'], info['embed_dims'], info['num_patches']
        ('mmpretrain', 64, 16)
    """
    source = checkpoint if isinstance(checkpoint, str) else '<dict>'
    if isinstance(checkpoint, str):
        checkpoint = load_path_url_or_name(checkpoint, trust=trust)
    if not isinstance(checkpoint, dict):
        raise CheckpointLayoutError(
            f'{source}: expected a dict of weights, got '
            f'{type(checkpoint).__name__}.')
    # the weights: in a container (the first that holds tensors) or bare
    container = next((k for k in _CONTAINER_KEYS
                      if isinstance(checkpoint.get(k), dict) and any(
                          isinstance(v, torch.Tensor)
                          for v in checkpoint[k].values())), '')
    state = checkpoint[container] if container else checkpoint
    if prefix:
        keys, state = sorted(state)[:5], {
            k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}
        if not state:
            raise BackboneCheckpointError(
                f'{source}: no key starts with prefix "{prefix}"; first keys'
                f' are {keys}. Fix `prefix` in the init_cfg.')
    state, outer = _strip_wrappers(state)
    layout = _layout(state, outer, source)
    state = _CONVERTERS[layout](state)
    has_adapter = _ADAPTER_KEYS[0] in state
    if has_adapter and merge_input_adapter:
        # the adapter (Linear-GELU-Linear) evaluated on the class token
        # replaces it after pretraining: a plain ViT
        w1, b1, w2, b2 = (state.pop(k).float() for k in _ADAPTER_KEYS)
        cls = state['cls_token']
        state['cls_token'] = F.linear(F.gelu(F.linear(cls.float(), w1, b1)),
                                      w2, b2).to(cls.dtype)
    vit, unknown = OrderedDict(), []
    for key, value in state.items():
        if key in ('cls_token', 'pos_embed', 'register_tokens') or \
                key.startswith(('patch_embed.projection.', 'layers.',
                                FINAL_NORM, 'pre_norm.', 'input_adapter.')):
            vit[key] = value
        elif not _IGNORED.match(key):
            unknown.append(key)
    if unknown and strict:
        raise CheckpointLayoutError(
            f'{source} ({layout} layout) has keys that are not part of a '
            f'plain ViT: {unknown[:10]}{" ..." if len(unknown) > 10 else ""}.'
            ' It may be a different architecture (e.g. a distilled DeiT or '
            'a ViT with extra tokens), which mmtec does not support.')
    if not strict:
        vit.update((k, state[k]) for k in unknown)
    # how the producer resizes its table: OpenCLIP's resize_pos_embed and
    # DINOv2's interpolate_pos_encoding with registers by size with
    # antialiasing, without registers by a 0.1 offset
    resize = {}
    if layout == 'openclip' or layout == 'dinov2' and 'register_tokens' in vit:
        resize = dict(antialias=True)
    elif layout == 'dinov2':
        resize = dict(offset=0.1)
    info = dict(layout=layout, container=container, source=source,
                pos_embed_resize=resize,
                input_adapter=('merged' if merge_input_adapter else 'kept')
                if has_adapter else None)
    if strict or all(k in vit for k in ('cls_token', 'pos_embed')):
        info.update(vit_arch(vit, source))
    return vit, info


def is_bare_vit_key(key: str) -> bool:
    """Whether ``key`` is a ViT weight of a backbone-only file (no
    ``backbone.`` prefix), in any layout the reader knows."""
    return key in ('cls_token', 'pos_embed') or key.startswith(
        ('patch_embed.', 'blocks.', 'norm.', 'cls_token_mlp.', 'layers.',
         FINAL_NORM, 'input_adapter.'))


def resize_abs_pos_embed(pos_embed: torch.Tensor, dst_tokens: int,
                         num_extra_tokens: int = 1,
                         mode: str = 'bicubic', antialias: bool = False,
                         offset: float = 0.) -> torch.Tensor:
    """Resize a ``[1, extra + s*s, C]`` table to ``dst_tokens`` tokens
    (MMPretrain's ``resize_pos_embed``, or as its producer does, in fp32).

    Args:
        pos_embed (Tensor): The checkpoint's table.
        dst_tokens (int): Tokens of the model's table, extra ones included.
        num_extra_tokens (int): Leading tokens that are not on the grid.
        mode (str): Interpolation mode. Defaults to 'bicubic'.
        antialias (bool): Antialias (``read_vit``'s
            ``info['pos_embed_resize']``). Defaults to False.
        offset (float): Interpolate by the scale factor ``(d + offset) /
            s`` instead of to the size ``d`` (DINOv2: 0.1). Defaults to 0.
    """
    src_grid = pos_embed.shape[1] - num_extra_tokens
    dst_grid = dst_tokens - num_extra_tokens
    s, d = math.isqrt(max(src_grid, 0)), math.isqrt(max(dst_grid, 0))
    if s * s != src_grid or d * d != dst_grid or pos_embed.ndim != 3:
        raise CheckpointLayoutError(
            f'pos_embed of shape {tuple(pos_embed.shape)} cannot be resized '
            f'to {dst_tokens} tokens: it is not {num_extra_tokens} extra '
            'token(s) + a square grid.')
    if s == d or not (antialias or offset):
        return resize_pos_embed(pos_embed, (s, s), (d, d), mode,
                                num_extra_tokens)
    grid = pos_embed[:, num_extra_tokens:].float().reshape(1, s, s, -1)
    size = dict(scale_factor=((d + offset) / s, ) * 2) if offset else dict(
        size=(d, d))
    grid = F.interpolate(grid.permute(0, 3, 1, 2), mode=mode,
                         antialias=antialias, **size).permute(0, 2, 3, 1)
    return torch.cat([pos_embed[:, :num_extra_tokens],
                      grid.reshape(1, d * d, -1).to(pos_embed.dtype)], 1)
