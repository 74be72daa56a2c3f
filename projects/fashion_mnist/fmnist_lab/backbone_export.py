"""The online encoder of a self-supervised checkpoint, as its own file.

MoCo v3 checkpoints hold two copies of the ViT (the online ``backbone`` and
the momentum encoder); its transfer protocol keeps the online one. Writing
that one alone gives a file every ViT loader of the project reads without a
prefix (fine-tuning backbones, TEC's base-model loader).
"""
import os
import os.path as osp

import torch

from mmtec.checkpoint import safe_load

from .json_records import read_json, write_json


def export_backbone(checkpoint: str, out: str,
                    prefix: str = 'backbone.') -> str:
    """Write the ``prefix`` weights of ``checkpoint`` to ``out`` (once).

    Args:
        checkpoint (str): An MMEngine training checkpoint.
        out (str): The file to write (``{'state_dict': {prefix + key}}``);
            reused when it was written from the same checkpoint.
        prefix (str): The encoder's key prefix. Defaults to 'backbone.'.

    Returns:
        str: ``out``.
    """
    record_path = out + '.json'
    record = read_json(record_path)
    source = dict(checkpoint=osp.abspath(checkpoint),
                  mtime=osp.getmtime(checkpoint), prefix=prefix)
    if record == source and osp.isfile(out):
        return out
    state = safe_load(checkpoint, map_location='cpu')
    state = state.get('state_dict', state)
    encoder = {k: v for k, v in state.items() if k.startswith(prefix)}
    if not encoder:
        raise KeyError(f'{checkpoint} has no {prefix!r} weights (first keys: '
                       f'{sorted(state)[:5]}); pass the encoder\'s prefix')
    tmp = out + '.tmp'
    torch.save({'state_dict': encoder}, tmp)
    os.replace(tmp, out)
    write_json(record_path, source)
    return out
