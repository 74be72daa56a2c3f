"""Files written whole or not at all (a temporary name, fsync, rename):
a crash or a full disk never leaves a half-written file under its name."""
import json
import os
import os.path as osp
from contextlib import contextmanager, suppress
from typing import Iterator, Optional, Union

import torch

from .loader import SAFETENSORS_META_KEY

TMP_SUFFIX = '.tmp'


def fsync_replace(tmp_path: str, path: str) -> None:
    """Flush ``tmp_path`` to disk, rename it to ``path``, sync the folder.

    ``os.replace`` is atomic within one file system: ``path`` is the old
    file or the complete new one, never a partial write.

    Args:
        tmp_path (str): The complete file under its temporary name.
        path (str): Its final name.
    """
    with open(tmp_path, 'rb+') as f:
        os.fsync(f.fileno())
    umask = os.umask(0o022)  # reading the umask means setting it
    os.umask(umask)
    # safetensors creates files 0600: readable as the umask allows instead
    os.chmod(tmp_path, 0o666 & ~umask)
    os.replace(tmp_path, path)
    with suppress(OSError):  # the rename made durable, where the OS can
        folder = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@contextmanager
def atomic_path(path: str, suffix: str = TMP_SUFFIX) -> Iterator[str]:
    """A temporary name to write ``path`` under: renamed to ``path`` by
    :func:`fsync_replace` when the block succeeds, removed on any error.

    Args:
        path (str): The final name.
        suffix (str): Appended to ``path`` for the temporary name.
            Defaults to :data:`TMP_SUFFIX`.
    """
    tmp = path + suffix
    try:
        yield tmp
        fsync_replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_atomically(path: str, data: Union[str, bytes]) -> None:
    """Write a file through a temporary file and a rename.

    Args:
        path (str): The file.
        data (str | bytes): Its whole content (text or bytes).
    """
    mode = 'w' if isinstance(data, str) else 'wb'
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        f.write(data)


def save_converted(obj: dict, path: str, file_format: Optional[str] = None,
                   overwrite: bool = False) -> None:
    """Write a converted checkpoint with ``torch.save`` or as safetensors.

    Args:
        obj (dict): ``{'state_dict', 'meta'}`` (safetensors keeps ``meta``
            as JSON metadata) or a bare dict of tensors.
        path (str): Destination file; its folder is created.
        file_format (str, optional): ``'pth'`` or ``'safetensors'``.
            Defaults to the extension of ``path``.
        overwrite (bool): Replace an existing file. Defaults to False.
    """
    file_format = file_format or ('safetensors' if path.endswith(
        '.safetensors') else 'pth')
    if file_format not in ('pth', 'safetensors'):
        raise ValueError(f'Unknown checkpoint format {file_format!r}; '
                         "choose from ('pth', 'safetensors').")
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite to replace '
                              'it.')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    record = set(obj) <= {'state_dict', 'meta'} and 'state_dict' in obj
    tensors, meta = (obj['state_dict'], obj.get('meta')) if record else (
        obj, None)
    with atomic_path(path) as tmp:
        if file_format == 'pth':
            torch.save(obj, tmp)
        else:  # safetensors refuses shared memory: each tensor a copy
            from safetensors.torch import save_file
            save_file({
                k: v.detach().contiguous().clone() if isinstance(
                    v, torch.Tensor) else v for k, v in tensors.items()
            }, tmp, metadata=None if meta is None else {
                SAFETENSORS_META_KEY: json.dumps(meta)})
