"""The one layout reader: any ViT checkpoint -> the canonical plain ViT.

Every supported file (MAE, iBOT/DINO, DeiT/timm incl. DeiT-III, DINOv2 with
or without registers, OpenCLIP/OpenAI CLIP, MMPretrain, TEC released, TEC raw
training checkpoints, mmtec's own pretraining checkpoints and the converted
downstream files) is turned into the *canonical* ViT state dict: the key
layout of MMPretrain's ``VisionTransformer`` (``cls_token``, ``pos_embed``
with a class slot, ``patch_embed.projection.*``, ``layers.N.{ln1,attn.qkv,
attn.proj,ln2,ffn.layers.0.0,ffn.layers.1}.*`` or the SwiGLU ``ffn.w12/w3``,
layer scale ``attn.gamma1``/``ffn.gamma2``, CLIP's ``pre_norm.*``, the final
norm ``ln1.*`` when the source has one) plus DINOv2's ``register_tokens``.
Input adapters are merged into the class token on the way.

:func:`read_vit` is the entry point: it reads the file through
:func:`~mmtec.checkpoint.safe_load`, finds the weights, names the layout
(:func:`detect_layout`) and hands them to that layout's small converter;
:func:`vit_arch` reads the architecture off the shapes.
"""
import math
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from mmtec.checkpoint import BackboneCheckpointError, CheckpointLayoutError
from mmtec.checkpoint.resolve import load_path_url_or_name

from .key_table import openclip_to_mmpretrain, timm_to_mmpretrain

# Where the weights sit inside a checkpoint dict, in order of preference.
_CONTAINER_KEYS = ('state_dict', 'model', 'teacher', 'student', 'module')
# Prefixes that wrap a backbone (DDP, iBOT/DINO wrappers, MMPretrain).
_WRAP_PREFIXES = ('module.', 'backbone.', 'encoder.')

# Parts of a checkpoint that are not the ViT encoder and are dropped.
_STEM_KEY = 'patch_embed.projection.weight'
_IGNORED = re.compile(
    r'^(head\.|fc_norm\.|neck\.|decoder|mask_token|target_generator\.|'
    r'data_preprocessor\.|forward_fea_decoder\.|forward_att_decoder\.|'
    r'encoder_adaptor\.|encoder_adapter\.|pre_logits\.|masked_embed)')



def _unwrap(checkpoint: dict,
                      source: str = '<dict>') -> Tuple[Dict, str]:
    """Find the weights inside a loaded checkpoint.

    Args:
        checkpoint (dict): What :func:`~mmtec.checkpoint.safe_load` returned.
        source (str): Where it came from, for messages.

    Returns:
        tuple: the state dict and the container key it came from
        (``''`` for a bare dict).
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointLayoutError(
            f'{source}: expected a dict of weights, got '
            f'{type(checkpoint).__name__}.')
    for key in _CONTAINER_KEYS:
        value = checkpoint.get(key)
        if isinstance(value, dict) and any(
                isinstance(v, torch.Tensor) for v in value.values()):
            return value, key
    return checkpoint, ''


def _strip_wrappers(state_dict: Dict) -> Dict:
    """Drop ``module.``/``backbone.``/``encoder.`` prefixes around a ViT.

    The prefix is read off the patch-embedding key. Keys outside it (an
    MMPretrain ``head.*``, an mmtec ``neck.*``) are kept as
    ``__outer__.<key>`` so that the layout can still be recognised.
    """
    stems = [
        k for k in state_dict
        if k.endswith(('patch_embed.proj.weight',
                       'patch_embed.projection.weight'))
    ]
    if len(stems) != 1:
        return state_dict
    prefix = stems[0][:stems[0].index('patch_embed.')]
    rest = prefix
    while rest:
        wrapper = next((w for w in _WRAP_PREFIXES if rest.startswith(w)),
                       None)
        if wrapper is None:
            return state_dict  # an unknown wrapper: leave it to the checks
        rest = rest[len(wrapper):]
    if not prefix:
        return state_dict
    inner = {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }
    inner.update({
        '__outer__.' + k: v
        for k, v in state_dict.items() if not k.startswith(prefix)
    })
    return inner


def detect_layout(state_dict: Dict, source: str = '<dict>') -> str:
    """Name the layout of an (unwrapped) state dict.

    ``source`` names the file in the error raised for an unknown layout.

    Returns one of ``'mmtec'`` (mmtec pretraining checkpoint),
    ``'mmpretrain'``, ``'tec_raw'`` (TEC authors' training checkpoint),
    ``'openclip'`` (OpenCLIP/OpenAI CLIP), ``'dinov2'`` (a DINOv2 hub file:
    its ``mask_token`` is ``[1, C]``) or ``'timm'`` (MAE, iBOT, DINO, DeiT,
    TEC released).
    """
    if any(k.endswith('visual.class_embedding') for k in state_dict):
        return 'openclip'
    keys = _strip_wrappers(state_dict)
    if any(
            k.startswith(('input_adapter.', 'encoder_adapter.',
                          '__outer__.neck.feature_branch.')) for k in keys):
        return 'mmtec'
    if 'patch_embed.projection.weight' in keys:
        return 'mmpretrain'
    if 'patch_embed.proj.weight' in keys:
        if any(
                k.startswith(('cls_token_mlp.', 'encoder_adaptor.'))
                for k in keys):
            return 'tec_raw'
        mask_token = keys.get('mask_token')
        return 'dinov2' if getattr(mask_token, 'ndim', 0) == 2 else 'timm'
    sample = sorted(keys)[:8]
    raise CheckpointLayoutError(
        f'Unknown checkpoint layout of {source}: no ViT patch embedding '
        '(`patch_embed.proj.weight` or `patch_embed.projection.weight`, '
        f'optionally under module./backbone.) was found. First keys: {sample}.'
        ' Supported: MAE, iBOT/DINO, DeiT/timm, DINOv2, OpenCLIP, MMPretrain,'
        ' TEC released, TEC raw training and mmtec pretraining checkpoints '
        'of a ViT.')


def merge_class_token(cls_token: torch.Tensor, fc1_weight: torch.Tensor,
                      fc1_bias: torch.Tensor, fc2_weight: torch.Tensor,
                      fc2_bias: torch.Tensor) -> torch.Tensor:
    """Evaluate an input adapter (Linear-GELU-Linear) on the class token.

    After pretraining the adapted class token replaces the learned one, so
    the transferred backbone is a plain ViT.
    """
    hidden = F.gelu(F.linear(cls_token.float(), fc1_weight.float(),
                             fc1_bias.float()))
    merged = F.linear(hidden, fc2_weight.float(), fc2_bias.float())
    return merged.to(cls_token.dtype)


def _split_known(state_dict: Dict) -> Tuple[Dict, List[str]]:
    """Keep the canonical ViT keys; report anything else not ignorable."""
    vit, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        if key in ('cls_token', 'pos_embed', 'register_tokens') or \
                key.startswith(('patch_embed.projection.', 'layers.', 'ln1.',
                                'pre_norm.', 'input_adapter.')):
            vit[key] = value
        elif not _IGNORED.match(key):
            unknown.append(key)
    return vit, unknown


# --------------------------------------------------------------------------
# one small converter per layout, each from wrapper-free keys to canonical;
# those of layouts with an input adapter merge it or keep it
# --------------------------------------------------------------------------
# TEC's ``cls_token_mlp`` (timm ``Mlp``) -> mmtec's ``input_adapter`` (FFN),
# in the argument order of merge_class_token
_INPUT_ADAPTER_KEYS = {
    'cls_token_mlp.fc1.weight': 'input_adapter.layers.0.0.weight',
    'cls_token_mlp.fc1.bias': 'input_adapter.layers.0.0.bias',
    'cls_token_mlp.fc2.weight': 'input_adapter.layers.1.weight',
    'cls_token_mlp.fc2.bias': 'input_adapter.layers.1.bias',
}


def _from_mmpretrain(state: Dict, merge_input_adapter: bool = True) -> Dict:
    return dict(state)


def _from_mmtec(state: Dict, merge_input_adapter: bool = True) -> Dict:
    state = dict(state)
    if merge_input_adapter and 'input_adapter.layers.0.0.weight' in state:
        state['cls_token'] = merge_class_token(
            state['cls_token'],
            *(state.pop(k) for k in _INPUT_ADAPTER_KEYS.values()))
    return state


def _from_timm(state: Dict, merge_input_adapter: bool = True) -> Dict:
    state = timm_to_mmpretrain(state)
    pos = state.get('pos_embed')
    if 'cls_token' in state and pos is not None and pos.ndim == 3 and \
            math.isqrt(pos.shape[1])**2 == pos.shape[1]:
        # no class slot (DeiT-III, timm's no_embed_class): a zero one adds
        # nothing to the class token, as the producer does
        state['pos_embed'] = F.pad(pos, (0, 0, 1, 0))
    return state


def _from_openclip(state: Dict, merge_input_adapter: bool = True) -> Dict:
    key = next(k for k in state if k.endswith('visual.class_embedding'))
    prefix = key[:-len('class_embedding')]  # text tower and head dropped
    visual = {k[len(prefix):]: v for k, v in state.items()
              if k.startswith(prefix) and k != prefix + 'proj'}
    visual['cls_token'] = visual.pop('class_embedding').reshape(1, 1, -1)
    visual['pos_embed'] = visual.pop('positional_embedding')[None]
    return openclip_to_mmpretrain(visual)


def _from_tec_raw(state: Dict, merge_input_adapter: bool = True) -> Dict:
    state = dict(state)
    adapter = {new: state.pop(old) for old, new in _INPUT_ADAPTER_KEYS.items()}
    if merge_input_adapter:
        state['cls_token'] = merge_class_token(state['cls_token'],
                                               *adapter.values())
        adapter = {}
    return {**_from_timm(state), **adapter}


_CONVERTERS: Dict[str, Callable[[Dict, bool], Dict]] = {
    'mmtec': _from_mmtec,
    'mmpretrain': _from_mmpretrain,
    'tec_raw': _from_tec_raw,
    'timm': _from_timm,
    'dinov2': _from_timm,
    'openclip': _from_openclip,
}


# beyond any ViT in use (ViT-G has 1664 dims, 48 blocks, patch 14): a file
# claiming more is refused before a model is built from its shapes
_ARCH_LIMITS = dict(embed_dims=8192, num_layers=256, patch_size=64,
                    in_channels=16, feedforward_channels=65536,
                    num_patches=65536)


def vit_arch(state: Dict[str, torch.Tensor], source: str = '<dict>') -> dict:
    """The architecture of a canonical ViT state dict, read off its shapes.

    Returns:
        dict: ``embed_dims``, ``num_layers``, ``patch_size``,
        ``in_channels``, ``feedforward_channels`` (the hidden width, for
        SwiGLU that of one of its two halves), ``num_patches`` (position
        table rows without the class slot), ``has_final_norm``, and what
        the blocks have: ``swiglu``, ``layer_scale``, ``pre_norm``,
        ``qkv_bias`` and ``num_registers``.
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
        has_final_norm='ln1.weight' in state, swiglu=swiglu,
        layer_scale='layers.0.attn.gamma1.weight' in state,
        pre_norm='pre_norm.weight' in state,
        qkv_bias='layers.0.attn.qkv.bias' in state,
        num_registers=0 if registers is None else int(registers.shape[1]))
    return arch


def _producer_resize(layout: str, state: Dict) -> dict:
    """How the producer resizes its position table (``resize_abs_pos_embed``
    options): DINOv2 hub models as ``interpolate_pos_encoding`` (a 0.1
    offset, no antialiasing; size and antialiasing with registers),
    OpenCLIP as ``resize_pos_embed`` (size, antialiasing)."""
    if layout == 'dinov2' and 'register_tokens' not in state:
        return dict(offset=0.1)
    return dict(antialias=True) if layout in ('dinov2', 'openclip') else {}


def _select_prefix(state: Dict, prefix: str, source: str) -> Dict:
    inner = {k[len(prefix):]: v for k, v in state.items()
             if k.startswith(prefix)}
    if not inner:
        raise BackboneCheckpointError(
            f'{source}: no key starts with prefix "{prefix}"; first keys '
            f'are {sorted(state)[:5]}. Fix `prefix` in the init_cfg.')
    return inner


def read_vit(checkpoint: Union[str, dict],
             prefix: Optional[str] = None,
             strict: bool = True,
             trust: bool = False,
             merge_input_adapter: bool = True
             ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Read a ViT checkpoint of any supported layout as the canonical one.

    The one entry point of the layout reader: the file is read once
    through :func:`~mmtec.checkpoint.load_path_url_or_name` (a path, an
    http(s) URL or a model-zoo name), its weights found once
    (``state_dict``/``model``/``teacher``/``student``/``module``, then
    ``module.``/``backbone.``/``encoder.`` wrappers), its layout named and
    converted by that layout's small converter.

    Args:
        checkpoint (str | dict): A file path, an http(s) URL, a model name
            of MMPretrain's model hub or an already loaded checkpoint.
        prefix (str, optional): Keep only the keys under this prefix and
            strip it (a backbone's ``init_cfg``), before anything else.
        strict (bool): Raise on keys that are neither ViT weights nor known
            extras (heads, decoders, adapters). With False they are kept,
            for backbones that have them (e.g. relative position tables).
            Defaults to True.
        trust (bool): The config marks the file as trusted (see
            :func:`~mmtec.checkpoint.safe_load`). Defaults to False.
        merge_input_adapter (bool): Evaluate a TEC input adapter into the
            class token (a plain ViT). With False a TEC raw or mmtec
            pretraining checkpoint keeps its raw class token and the
            adapter as ``input_adapter.layers.{0.0,1}.*``, for fine-tuning
            the adapter as the authors do. Defaults to True.

    Returns:
        tuple: ``(state_dict, info)``; ``info`` holds ``layout``,
        ``container``, ``source``, ``input_adapter`` (``'merged'``,
        ``'kept'`` or None: the file has none) and, when the weights have a
        ViT stem, the architecture (:func:`vit_arch`).

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
    raw, container = _unwrap(checkpoint, source)
    if prefix:
        raw = _select_prefix(raw, prefix, source)
    layout = detect_layout(raw, source)
    state = _strip_wrappers(raw)
    has_adapter = any(k.startswith(('cls_token_mlp.', 'input_adapter.'))
                      for k in state)
    state = _CONVERTERS[layout](state, merge_input_adapter)
    state = {k: v for k, v in state.items() if not k.startswith('__outer__.')}

    vit, unknown = _split_known(state)
    if unknown and strict:
        raise CheckpointLayoutError(
            f'{source} ({layout} layout) has keys that are not part of a '
            f'plain ViT: {unknown[:10]}{" ..." if len(unknown) > 10 else ""}.'
            ' It may be a different architecture (e.g. a distilled DeiT or '
            'a ViT with extra tokens), which mmtec does not support.')
    if not strict:
        vit.update((k, state[k]) for k in unknown)
    info = dict(layout=layout, container=container, source=source,
                pos_embed_resize=_producer_resize(layout, vit),
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
         'ln1.', 'input_adapter.'))
