"""Canonical plain ViT -> the layouts downstream code loads: one small
converter per target (MMPretrain, timm, ViTDet, MMSegmentation's MAE) on
the key tables of :mod:`.key_table`."""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple, Union

import torch

from .key_table import MMSEG, TIMM, rename_keys
from .layout_reader import drop_final_norm, read_vit, vit_arch

State = Dict[str, torch.Tensor]


def canonical_to_mmpretrain(state_dict: State, meta: dict = None) -> dict:
    """A checkpoint MMPretrain's ``VisionTransformer`` loads (``Pretrained``
    with ``prefix='backbone.'``, or ``load_from`` into a classifier).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.
        meta (dict, optional): Stored as the checkpoint's ``meta``.
    """
    return dict(
        state_dict=OrderedDict(
            ('backbone.' + k, v.clone()) for k, v in state_dict.items()),
        meta=dict(meta or {}))


def canonical_to_timm(state_dict: State) -> dict:
    """A bare timm-style ViT state dict (the TEC released layout).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.
    """
    return OrderedDict((k, v.clone()) for k, v in rename_keys(
        state_dict, TIMM, to_source=True).items())


def canonical_to_mmdet_state_dict(state_dict: State
                                  ) -> Tuple[State, List[str]]:
    """Canonical ViT keys -> ``ViTDetBackbone`` keys (backbone-local): the
    same names less the class token (the table keeps its slot), the final
    norm and layer scale, folded exactly into the projections it scales.
    The relative position tables start at zero (new by design).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.

    Returns:
        tuple: The state dict and the keys left out or folded away.
    """
    state = drop_final_norm(state_dict)
    state.pop('cls_token', None)
    for key in list(state):
        m = re.match(r'^layers\.(\d+)\.(attn|ffn)\.gamma[12]\.weight$', key)
        if m:  # gamma * Linear(x) is a Linear: exact, no new module
            gamma = state.pop(key).float()
            lin = f'layers.{m.group(1)}.' + dict(
                attn='attn.proj.', ffn='ffn.layers.1.')[m.group(2)]
            w, b = state[lin + 'weight'], state[lin + 'bias']
            state[lin + 'weight'] = (w.float() * gamma[:, None]).to(w.dtype)
            state[lin + 'bias'] = (b.float() * gamma).to(b.dtype)
    return state, [k for k in state_dict if k not in state]


def canonical_to_mmseg_state_dict(state_dict: State
                                  ) -> Tuple[State, List[str]]:
    """Canonical ViT keys -> MMSegmentation ``MAE`` keys (backbone-local):
    a BEiT with MMPretrain's names and a fused ``attn.qkv.bias``, its layer
    scale ``gamma_1/2`` MMPretrain's or ones (a plain ViT), no final norm;
    the relative position tables start at zero (new by design).

    Args:
        state_dict (dict): Canonical plain-ViT state dict.

    Returns:
        tuple: ``(state_dict, dropped)``.
    """
    kept = drop_final_norm(state_dict)
    state = rename_keys(kept, MMSEG, to_source=True)
    stem = state['patch_embed.projection.weight']
    for i in sorted({int(k.split('.')[1]) for k in state
                     if re.match(r'^layers\.\d+\.', k)}):
        for name in ('gamma_1', 'gamma_2'):
            state.setdefault(f'layers.{i}.{name}',
                             torch.ones(stem.shape[0], dtype=stem.dtype))
    return state, [k for k in state_dict if k not in kept]


def _downstream(src: Union[str, dict], converter, layout: str,
                new_by_design: list) -> dict:
    """``{'state_dict', 'meta'}`` of ``src`` converted by ``converter``,
    weights-only safe (plain tensors, plain meta)."""
    canonical, _ = read_vit(src, strict=False)
    state, dropped = converter(canonical)
    meta = dict(layout=layout, source_layout='mmpretrain.VisionTransformer',
                arch=vit_arch(canonical), dropped_keys=sorted(dropped),
                new_by_design=new_by_design,
                converter='mmtec.converters.' + converter.__name__)
    return dict(state_dict=state, meta=meta)


def canonical_to_mmdet(src: Union[str, dict]) -> dict:
    """The checkpoint (``state_dict`` and ``meta``) ``ViTDetBackbone``
    loads.

    Args:
        src (str | dict): A canonical plain-ViT state dict, or any
            checkpoint (path or dict) :func:`~.read_vit` understands.
    """
    return _downstream(src, canonical_to_mmdet_state_dict,
                       'mmtec.ViTDetBackbone',
                       ['layers.N.attn.rel_pos_h', 'layers.N.attn.rel_pos_w'])


def canonical_to_mmseg(src: Union[str, dict]) -> dict:
    """The checkpoint MMSegmentation's ``MAE`` (and ``CheckedMAE``) loads.

    Args:
        src (str | dict): See :func:`canonical_to_mmdet`.
    """
    return _downstream(src, canonical_to_mmseg_state_dict, 'mmseg.MAE', [
        'layers.N.attn.relative_position_bias_table',
        'layers.N.attn.relative_position_index'])
