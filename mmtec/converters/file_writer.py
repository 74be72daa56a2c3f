"""Write converted checkpoints: ``torch.save`` or safetensors, atomically."""
import json
import os
import os.path as osp
from typing import Optional

import torch

from mmtec.atomic_files import TMP_SUFFIX, fsync_replace
from mmtec.checkpoint import SAFETENSORS_META_KEY

FORMATS = ('pth', 'safetensors')


def _format_of(path: str, file_format: Optional[str]) -> str:
    if file_format is None:
        file_format = 'safetensors' if path.endswith('.safetensors') \
            else 'pth'
    if file_format not in FORMATS:
        raise ValueError(f'Unknown checkpoint format {file_format!r}; '
                         f'choose from {FORMATS}.')
    return file_format


def _write_safetensors(obj: dict, path: str) -> None:
    """Tensors only: a ``{'state_dict', 'meta'}`` record keeps its meta as
    JSON metadata, a bare dict must hold tensors only."""
    from safetensors.torch import save_file
    meta = None
    if set(obj) <= {'state_dict', 'meta'} and 'state_dict' in obj:
        tensors, meta = obj['state_dict'], obj.get('meta')
    else:
        tensors = obj
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'safetensors holds tensors only; {bad[:5]} are not.')
    metadata = None
    if meta is not None:
        metadata = {SAFETENSORS_META_KEY: json.dumps(meta)}
    # safetensors refuses tensors that share memory: give each its own
    save_file({k: v.detach().contiguous().clone()
               for k, v in tensors.items()}, path, metadata=metadata)


def save_converted(obj: dict, path: str, file_format: Optional[str] = None,
                   overwrite: bool = False) -> None:
    """Write ``obj`` to ``path`` via a temporary file and a rename.

    Args:
        obj (dict): A converted checkpoint (``{'state_dict', 'meta'}``) or a
            bare state dict.
        path (str): Destination file; its folder is created.
        file_format (str, optional): ``'pth'`` (``torch.save``) or
            ``'safetensors'``. Defaults to the extension of ``path``.
        overwrite (bool): Replace an existing file. Defaults to False.
    """
    file_format = _format_of(path, file_format)
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite to replace '
                              'it.')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + TMP_SUFFIX
    try:
        if file_format == 'safetensors':
            _write_safetensors(obj, tmp)
        else:
            torch.save(obj, tmp)
        fsync_replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
