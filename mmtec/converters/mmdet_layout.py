"""Canonical plain ViT -> the key layout of ``mmtec.det.ViTDetBackbone``.

The canonical layout is MMPretrain's ``VisionTransformer`` (see
:func:`mmtec.checkpoint.to_plain_vit`). ``ViTDetBackbone`` names its modules
the same way on purpose, so the detection layout is the canonical one minus
what a ViTDet backbone has no use for:

* ``cls_token`` - ViTDet runs on patch tokens only (the class-token slot of
  ``pos_embed`` is kept so the table has the pretrained shape);
* the final norm ``ln1.*`` - the simple feature pyramid normalises itself;
* layer scale (``layers.N.attn.gamma1.weight``/``ffn.gamma2.weight``), which
  is folded exactly into the output projections it scales.

The relative position tables (``layers.N.attn.rel_pos_h/w``) are new by
design: they start at zero, which leaves the pretrained attention unchanged.

This module also holds the helpers both downstream layouts share: reading a
checkpoint without running pickled code, and loading a state dict into a
backbone so that a checkpoint that does not fit raises instead of leaving
random weights behind. It imports neither MMDetection nor MMSegmentation.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from mmtec.checkpoint import (BackboneCheckpointError, load_state_dict_checked,
                              safe_load, to_plain_vit, unwrap_state_dict)

__all__ = [
    'BackboneCheckpointError', 'canonical_to_mmdet',
    'canonical_to_mmdet_state_dict', 'save_mmdet_checkpoint',
    'read_checkpoint_state_dict', 'load_state_dict_checked',
    'resize_abs_pos_embed', 'to_canonical'
]

MMDET_LAYOUT = 'mmtec.ViTDetBackbone'
_STEM_KEY = 'patch_embed.projection.weight'


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------
def read_checkpoint_state_dict(checkpoint: Union[str, dict],
                               prefix: Optional[str] = None
                               ) -> Dict[str, torch.Tensor]:
    """Read the weights of a backbone from a file or a loaded checkpoint.

    Args:
        checkpoint (str | dict): A path (loaded with ``weights_only=True``)
            or a checkpoint dict, bare or under ``state_dict``/``model``.
        prefix (str, optional): Keep only keys under this prefix and strip
            it (e.g. ``'backbone.'`` for a full detector checkpoint). When
            None, a ``backbone.`` prefix is stripped if the weights have no
            top-level patch embedding.

    Returns:
        dict: ``name -> tensor``, backbone-local names.
    """
    source = checkpoint if isinstance(checkpoint, str) else '<dict>'
    if isinstance(checkpoint, str):
        checkpoint = safe_load(checkpoint, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise BackboneCheckpointError(
            f'{source}: expected a dict of weights, got '
            f'{type(checkpoint).__name__}.')
    state, _ = unwrap_state_dict(checkpoint)
    if prefix:
        inner = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
        if not inner:
            raise BackboneCheckpointError(
                f'{source}: no key starts with prefix "{prefix}"; first keys '
                f'are {sorted(state)[:5]}. Fix `prefix` in the init_cfg.')
        state = inner
    elif _STEM_KEY not in state and 'backbone.' + _STEM_KEY in state:
        state = {
            k[len('backbone.'):]: v
            for k, v in state.items() if k.startswith('backbone.')
        }
    return OrderedDict((k, v) for k, v in state.items()
                       if isinstance(v, torch.Tensor))


def to_canonical(src: Union[str, dict]) -> Dict[str, torch.Tensor]:
    """Canonical plain-ViT state dict from any checkpoint mmtec understands.

    A dict already in the canonical layout is used as it is; anything else
    (a path, timm/MAE/iBOT/TEC layouts) goes through
    :func:`mmtec.checkpoint.to_plain_vit`.
    """
    if isinstance(src, dict):
        state, _ = unwrap_state_dict(src)
        if _STEM_KEY in state and 'layers.0.attn.qkv.weight' in state:
            return OrderedDict(state)
    return to_plain_vit(src)[0]


def _layer_ids(state: Dict[str, torch.Tensor]) -> List[int]:
    return sorted({
        int(m.group(1))
        for m in (re.match(r'^layers\.(\d+)\.', k) for k in state) if m
    })


def describe_arch(state: Dict[str, torch.Tensor]) -> dict:
    """Architecture read from the shapes of a (canonical-like) ViT dict."""
    proj = state[_STEM_KEY]
    arch = dict(
        embed_dims=int(proj.shape[0]),
        in_channels=int(proj.shape[1]),
        patch_size=int(proj.shape[-1]),
        num_layers=len(_layer_ids(state)))
    if 'layers.0.ffn.layers.0.0.weight' in state:
        arch['feedforward_channels'] = int(
            state['layers.0.ffn.layers.0.0.weight'].shape[0])
    if 'pos_embed' in state:
        arch['pos_embed_tokens'] = int(state['pos_embed'].shape[1])
    return arch


# --------------------------------------------------------------------------
# canonical -> mmdet
# --------------------------------------------------------------------------
def _fold_layer_scale(state: Dict[str, torch.Tensor]) -> List[str]:
    """Fold ``gamma * Linear(x)`` into the Linear: exact, no new module."""
    folded = []
    targets = {
        r'^layers\.(\d+)\.attn\.gamma1\.weight$': 'layers.{}.attn.proj.',
        r'^layers\.(\d+)\.ffn\.gamma2\.weight$': 'layers.{}.ffn.layers.1.',
    }
    for key in list(state):
        for pattern, linear in targets.items():
            m = re.match(pattern, key)
            if not m:
                continue
            gamma = state.pop(key).float()
            lin = linear.format(m.group(1))
            w, b = state[lin + 'weight'], state[lin + 'bias']
            state[lin + 'weight'] = (w.float() * gamma[:, None]).to(w.dtype)
            state[lin + 'bias'] = (b.float() * gamma).to(b.dtype)
            folded.append(key)
    return folded


def canonical_to_mmdet_state_dict(
        state_dict: Dict[str, torch.Tensor]
) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Canonical ViT keys -> ``ViTDetBackbone`` keys (backbone-local).

    Keys already in the ViTDet layout (e.g. trained ``rel_pos_h/w``) pass
    through, so the function is idempotent.

    Args:
        state_dict (dict): Canonical plain-ViT state dict.

    Returns:
        tuple: ``(state_dict, dropped)``, ``dropped`` naming the keys left
        out (class token, final norm) or folded away (layer scale).
    """
    state = OrderedDict(state_dict)
    dropped = _fold_layer_scale(state)
    for key in list(state):
        # the class token and the final norm have no place in ViTDet
        if key == 'cls_token' or key.startswith(('ln1.', 'norm.')):
            state.pop(key)
            dropped.append(key)
    return state, dropped


def canonical_to_mmdet(src: Union[str, dict]) -> dict:
    """Build the checkpoint that ``ViTDetBackbone`` loads.

    Args:
        src (str | dict): A canonical plain-ViT state dict, or any
            checkpoint (path or dict) :func:`mmtec.checkpoint.to_plain_vit`
            understands.

    Returns:
        dict: ``{'state_dict': {...}, 'meta': {...}}``; keys are
        backbone-local (no ``backbone.`` prefix), values plain tensors, meta
        plain Python values, so ``torch.load(weights_only=True)`` reads it.
    """
    canonical = to_canonical(src)
    state, dropped = canonical_to_mmdet_state_dict(canonical)
    return downstream_checkpoint(
        canonical, state, dropped, MMDET_LAYOUT,
        ['layers.N.attn.rel_pos_h', 'layers.N.attn.rel_pos_w'],
        'mmtec.converters.mmdet_layout.canonical_to_mmdet')


def downstream_checkpoint(canonical: Dict[str, torch.Tensor],
                          state: Dict[str, torch.Tensor], dropped: List[str],
                          layout: str, new_by_design: List[str],
                          converter: str) -> dict:
    """``{'state_dict', 'meta'}`` of a converted backbone, weights-only safe.

    Args:
        canonical (dict): The canonical plain-ViT dict it came from.
        state (dict): The converted backbone-local weights.
        dropped (list[str]): Canonical keys left out or folded away.
        layout (str): Name of the target layout.
        new_by_design (list[str]): Keys the backbone initialises itself.
        converter (str): The converting function, for the record.
    """
    meta = dict(
        layout=layout,
        source_layout='mmpretrain.VisionTransformer',
        arch=describe_arch(canonical),
        dropped_keys=sorted(dropped),
        new_by_design=new_by_design,
        converter=converter)
    return dict(state_dict=state, meta=meta)


def save_checkpoint(ckpt: dict, out_file: str) -> dict:
    """Save a converted checkpoint, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    torch.save(ckpt, out_file)
    return ckpt


def save_mmdet_checkpoint(src: Union[str, dict], out_file: str) -> dict:
    """Convert ``src`` with :func:`canonical_to_mmdet` and save it.

    Returns:
        dict: The saved checkpoint.
    """
    return save_checkpoint(canonical_to_mmdet(src), out_file)


# --------------------------------------------------------------------------
# loading into a module, shared with the mmseg layout
# --------------------------------------------------------------------------
def resize_abs_pos_embed(pos_embed: torch.Tensor, dst_tokens: int,
                         num_extra_tokens: int = 1) -> torch.Tensor:
    """Bicubically resize a square ``[1, extra + s*s, C]`` position table.

    Same interpolation as MMPretrain's ``resize_pos_embed`` (bicubic,
    ``align_corners=False``); extra tokens are kept as they are.
    """
    src_grid = pos_embed.shape[1] - num_extra_tokens
    dst_grid = dst_tokens - num_extra_tokens
    s, d = int(round(src_grid**0.5)), int(round(dst_grid**0.5))
    if s * s != src_grid or d * d != dst_grid:
        raise BackboneCheckpointError(
            f'pos_embed with {pos_embed.shape[1]} tokens is not '
            f'{num_extra_tokens} extra token(s) + a square grid.')
    if s == d:
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:,
                                                             num_extra_tokens:]
    grid = grid.reshape(1, s, s, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(d, d), mode='bicubic',
                         align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, d * d, -1).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=1)


