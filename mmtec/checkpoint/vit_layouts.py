"""Recognise the checkpoint layouts users bring and turn them into one.

Every supported file (MAE, iBOT/DINO, DeiT/timm, MMPretrain, TEC released,
TEC raw training checkpoints and mmtec's own pretraining checkpoints) is
converted into the *canonical* plain-ViT state dict: the key layout of
MMPretrain's ``VisionTransformer`` (``cls_token``, ``pos_embed``,
``patch_embed.projection.*``, ``layers.N.{ln1,attn.qkv,attn.proj,ln2,
ffn.layers.0.0,ffn.layers.1}.*`` and, when the source has one, the final
norm ``ln1.*``). Input adapters are merged into the class token on the way,
so the result is always a plain ViT.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple, Union

import torch
import torch.nn.functional as F

from .errors import CheckpointLayoutError
from .safe_load import safe_load

# Where the weights sit inside a checkpoint dict, in order of preference.
_CONTAINER_KEYS = ('state_dict', 'model', 'teacher', 'student', 'module')
# Prefixes that wrap a backbone (DDP, iBOT/DINO wrappers, MMPretrain).
_WRAP_PREFIXES = ('module.', 'backbone.', 'encoder.')

# timm ViT names -> MMPretrain ViT names.
_TIMM_TO_MMPRETRAIN = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
    (r'^norm\.', 'ln1.'),
]

# Parts of a checkpoint that are not the ViT encoder and are dropped.
_IGNORED = re.compile(
    r'^(head\.|fc_norm\.|neck\.|decoder|mask_token|target_generator\.|'
    r'data_preprocessor\.|forward_fea_decoder\.|forward_att_decoder\.|'
    r'encoder_adaptor\.|encoder_adapter\.|pre_logits\.|masked_embed)')



def unwrap_state_dict(checkpoint: dict) -> Tuple[Dict, str]:
    """Find the weights inside a loaded checkpoint.

    Args:
        checkpoint (dict): What ``torch.load`` returned.

    Returns:
        tuple: the state dict and the container key it came from
        (``''`` for a bare dict).
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointLayoutError(
            f'Expected a dict of weights, got {type(checkpoint).__name__}.')
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


def detect_layout(state_dict: Dict) -> str:
    """Name the layout of an (unwrapped) state dict.

    Returns one of ``'mmtec'`` (mmtec pretraining checkpoint),
    ``'mmpretrain'``, ``'tec_raw'`` (TEC authors' training checkpoint) or
    ``'timm'`` (MAE, iBOT, DINO, DeiT, TEC released).
    """
    keys = set(_strip_wrappers(state_dict))
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
        return 'timm'
    sample = sorted(keys)[:8]
    raise CheckpointLayoutError(
        'Unknown checkpoint layout: no ViT patch embedding '
        '(`patch_embed.proj.weight` or `patch_embed.projection.weight`, '
        f'optionally under module./backbone.) was found. First keys: {sample}.'
        ' Supported: MAE, iBOT/DINO, DeiT/timm, MMPretrain, TEC released, '
        'TEC raw training and mmtec pretraining checkpoints of a ViT.')


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


def _rename(state_dict: Dict, rules: List[Tuple[str, str]]) -> Dict:
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        for pattern, repl in rules:
            new_key, n = re.subn(pattern, repl, new_key)
            if n:
                break
        out[new_key] = value
    return out


def _split_known(state_dict: Dict) -> Tuple[Dict, List[str]]:
    """Keep the canonical ViT keys; report anything else not ignorable."""
    vit, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        if key in ('cls_token', 'pos_embed') or key.startswith(
            ('patch_embed.projection.', 'layers.', 'ln1.')):
            vit[key] = value
        elif not _IGNORED.match(key):
            unknown.append(key)
    return vit, unknown


def to_plain_vit(checkpoint: Union[str, dict],
                 strict: bool = True) -> Tuple[Dict, dict]:
    """Convert a ViT checkpoint of any supported layout to the canonical one.

    Args:
        checkpoint (str | dict): A file path or an already loaded checkpoint.
        strict (bool): Raise on keys that are neither ViT weights nor known
            extras (heads, decoders, adapters). Defaults to True.

    Returns:
        tuple: ``(state_dict, info)``; ``info`` holds ``layout``,
        ``container`` and the architecture read from the weights
        (``embed_dims``, ``num_layers``, ``patch_size``,
        ``feedforward_channels``, ``num_patches``, ``has_final_norm``).
    """
    source = checkpoint if isinstance(checkpoint, str) else '<dict>'
    if isinstance(checkpoint, str):
        checkpoint = safe_load(checkpoint, map_location='cpu')
    raw, container = unwrap_state_dict(checkpoint)
    layout = detect_layout(raw)
    state = _strip_wrappers(raw)

    if layout == 'tec_raw':
        cls = merge_class_token(state['cls_token'],
                                state['cls_token_mlp.fc1.weight'],
                                state['cls_token_mlp.fc1.bias'],
                                state['cls_token_mlp.fc2.weight'],
                                state['cls_token_mlp.fc2.bias'])
        state = {
            k: v
            for k, v in state.items() if not k.startswith('cls_token_mlp.')
        }
        state['cls_token'] = cls
    if layout in ('tec_raw', 'timm'):
        state = _rename(state, _TIMM_TO_MMPRETRAIN)
    if layout == 'mmtec':
        state = dict(state)
        if 'input_adapter.layers.0.0.weight' in state:
            state['cls_token'] = merge_class_token(
                state['cls_token'], state.pop('input_adapter.layers.0.0.weight'),
                state.pop('input_adapter.layers.0.0.bias'),
                state.pop('input_adapter.layers.1.weight'),
                state.pop('input_adapter.layers.1.bias'))
    state = {k: v for k, v in state.items() if not k.startswith('__outer__.')}

    vit, unknown = _split_known(state)
    if unknown and strict:
        raise CheckpointLayoutError(
            f'{source} ({layout} layout) has keys that are not part of a '
            f'plain ViT: {unknown[:10]}{" ..." if len(unknown) > 10 else ""}.'
            ' It may be a different architecture (e.g. a distilled DeiT or '
            'a ViT with extra tokens), which mmtec does not support.')
    info = dict(layout=layout, container=container, source=source)
    info.update(describe_plain_vit(vit, source))
    return vit, info


def describe_plain_vit(state_dict: Dict, source: str = '<dict>') -> dict:
    """Read the architecture of a canonical ViT state dict from its shapes."""
    missing = [
        k for k in ('cls_token', 'pos_embed', 'patch_embed.projection.weight')
        if k not in state_dict
    ]
    if missing:
        raise CheckpointLayoutError(
            f'{source} is missing the ViT stem weights {missing}.')
    layer_ids = sorted({
        int(k.split('.')[1])
        for k in state_dict if k.startswith('layers.')
    })
    if not layer_ids or layer_ids != list(range(len(layer_ids))):
        raise CheckpointLayoutError(
            f'{source} has transformer blocks {layer_ids}: expected '
            'consecutive blocks starting at 0.')
    proj = state_dict['patch_embed.projection.weight']
    return dict(
        embed_dims=proj.shape[0],
        num_layers=len(layer_ids),
        patch_size=proj.shape[-1],
        in_channels=proj.shape[1],
        feedforward_channels=state_dict[
            'layers.0.ffn.layers.0.0.weight'].shape[0],
        num_patches=state_dict['pos_embed'].shape[1] - 1,
        has_final_norm='ln1.weight' in state_dict)

