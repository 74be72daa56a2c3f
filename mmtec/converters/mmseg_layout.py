"""Canonical plain ViT -> the key layout of MMSegmentation's ``MAE`` backbone.

MMSegmentation's ``MAE`` backbone (``mmseg/models/backbones/mae.py``) is a
BEiT subclass, but it builds its blocks with ``bias=True``: each block has a
full fused ``attn.qkv.bias`` (no BEiT ``q_bias``/``v_bias`` pair, so no
k-bias has to be dropped). Its module names follow MMPretrain's
(``patch_embed.projection``, ``layers.N.{ln1,attn.qkv,attn.proj,ln2,
ffn.layers.0.0,ffn.layers.1}``); it keeps the class token and an absolute
``pos_embed`` with a class slot, which it resizes bicubically at load time.
What differs from a plain ViT:

* ``layers.N.gamma_1``/``gamma_2``: BEiT layer scale, multiplied on each
  residual branch. A plain ViT is exactly ``gamma = 1``, so the converter
  writes ones (or the checkpoint's own layer scale when it has one) instead
  of leaving them at the config's ``init_values``;
* ``layers.N.attn.relative_position_bias_table`` (+ its index buffer): new
  by design, initialised to zero by ``MAEAttention``, i.e. no bias;
* no final norm in the MAE recipe (``final_norm=False``): ``ln1.*`` is
  dropped.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple, Union

import torch

from .layout_reader import read_vit
from .mmdet_layout import downstream_checkpoint, save_checkpoint

__all__ = [
    'canonical_to_mmseg', 'canonical_to_mmseg_state_dict',
    'save_mmseg_checkpoint'
]

MMSEG_LAYOUT = 'mmseg.MAE'


def canonical_to_mmseg_state_dict(
        state_dict: Dict[str, torch.Tensor]
) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Canonical ViT keys -> ``MAE`` backbone keys (backbone-local).

    Idempotent on a dict already in the MAE layout.

    Args:
        state_dict (dict): Canonical plain-ViT state dict.

    Returns:
        tuple: ``(state_dict, dropped)``.
    """
    state, dropped = OrderedDict(), []
    for key, value in state_dict.items():
        m = re.match(r'^layers\.(\d+)\.(attn\.gamma1|ffn\.gamma2)\.weight$',
                     key)
        if m:  # MMPretrain layer scale is the same thing as BEiT's gamma
            suffix = 'gamma_1' if m.group(2) == 'attn.gamma1' else 'gamma_2'
            state[f'layers.{m.group(1)}.{suffix}'] = value
        elif key.startswith(('ln1.', 'norm.')):
            dropped.append(key)  # final norm: the MAE recipe has none
        else:
            state[key] = value
    embed_dims = state['patch_embed.projection.weight'].shape[0]
    dtype = state['patch_embed.projection.weight'].dtype
    for i in sorted({
            int(k.split('.')[1])
            for k in state if re.match(r'^layers\.\d+\.', k)
    }):
        for name in ('gamma_1', 'gamma_2'):
            # gamma = 1 reproduces the plain ViT exactly
            state.setdefault(f'layers.{i}.{name}',
                             torch.ones(embed_dims, dtype=dtype))
    return state, dropped


def canonical_to_mmseg(src: Union[str, dict]) -> dict:
    """Build the checkpoint that MMSegmentation's ``MAE`` backbone loads.

    Args:
        src (str | dict): A canonical plain-ViT state dict, or any
            checkpoint (path or dict) :func:`mmtec.converters.read_vit`
            understands.

    Returns:
        dict: ``{'state_dict': {...}, 'meta': {...}}`` with backbone-local
        keys (what ``MAE.init_weights`` and ``mmtec.seg.CheckedMAE`` read
        from ``init_cfg=dict(type='Pretrained', checkpoint=...)``);
        loadable with ``mmtec.checkpoint.safe_load``.
    """
    canonical, _ = read_vit(src, strict=False)
    state, dropped = canonical_to_mmseg_state_dict(canonical)
    return downstream_checkpoint(
        canonical, state, dropped, MMSEG_LAYOUT, [
            'layers.N.attn.relative_position_bias_table',
            'layers.N.attn.relative_position_index'
        ], 'mmtec.converters.mmseg_layout.canonical_to_mmseg')


def save_mmseg_checkpoint(src: Union[str, dict], out_file: str,
                          file_format: str = None) -> dict:
    """Convert ``src`` with :func:`canonical_to_mmseg` and save it.

    Args:
        src (str | dict): See :func:`canonical_to_mmseg`.
        out_file (str): Where to write.
        file_format (str, optional): ``'pth'`` or ``'safetensors'``;
            defaults to the extension of ``out_file``.

    Returns:
        dict: The saved checkpoint.
    """
    return save_checkpoint(canonical_to_mmseg(src), out_file, file_format)
