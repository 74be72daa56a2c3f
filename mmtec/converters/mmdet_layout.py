"""Canonical plain ViT -> the key layout of ``mmtec.det.ViTDetBackbone``.

The canonical layout is MMPretrain's ``VisionTransformer`` (see
:func:`mmtec.converters.read_vit`). ``ViTDetBackbone`` names its modules
the same way on purpose, so the detection layout is the canonical one minus
what a ViTDet backbone has no use for:

* ``cls_token`` - ViTDet runs on patch tokens only (the class-token slot of
  ``pos_embed`` is kept so the table has the pretrained shape);
* the final norm ``ln1.*`` - the simple feature pyramid normalises itself;
* layer scale (``layers.N.attn.gamma1.weight``/``ffn.gamma2.weight``), which
  is folded exactly into the output projections it scales.

The relative position tables (``layers.N.attn.rel_pos_h/w``) are new by
design: they start at zero, which leaves the pretrained attention unchanged.

This module also holds what both downstream layouts share when writing
(the ``{'state_dict', 'meta'}`` record and saving it). Reading is the
layout reader's job (:mod:`mmtec.checkpoint`). It imports neither
MMDetection nor MMSegmentation.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple, Union

import torch

from mmtec.checkpoint import save_converted

from .layout_reader import read_vit, vit_arch

__all__ = [
    'canonical_to_mmdet', 'canonical_to_mmdet_state_dict',
    'save_mmdet_checkpoint', 'downstream_checkpoint', 'save_checkpoint'
]

MMDET_LAYOUT = 'mmtec.ViTDetBackbone'


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
            checkpoint (path or dict) :func:`mmtec.converters.read_vit`
            understands.

    Returns:
        dict: ``{'state_dict': {...}, 'meta': {...}}``; keys are
        backbone-local (no ``backbone.`` prefix), values plain tensors, meta
        plain Python values, so ``mmtec.checkpoint.safe_load`` reads it.
    """
    canonical, _ = read_vit(src, strict=False)
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
        arch=vit_arch(canonical),
        dropped_keys=sorted(dropped),
        new_by_design=new_by_design,
        converter=converter)
    return dict(state_dict=state, meta=meta)


def save_checkpoint(ckpt: dict, out_file: str, file_format: str = None
                    ) -> dict:
    """Save a converted checkpoint (see
    :func:`~mmtec.converters.save_converted`)."""
    save_converted(ckpt, out_file, file_format, overwrite=True)
    return ckpt


def save_mmdet_checkpoint(src: Union[str, dict], out_file: str,
                          file_format: str = None) -> dict:
    """Convert ``src`` with :func:`canonical_to_mmdet` and save it.

    Args:
        src (str | dict): See :func:`canonical_to_mmdet`.
        out_file (str): Where to write.
        file_format (str, optional): ``'pth'`` or ``'safetensors'``;
            defaults to the extension of ``out_file``.

    Returns:
        dict: The saved checkpoint.
    """
    return save_checkpoint(canonical_to_mmdet(src), out_file, file_format)
