"""The one loader of every checkpoint file mmtec reads.

Base models, ``--resume``/``load_from`` and every MMEngine checkpoint scheme
(:mod:`.schemes`), converters, downstream backbones and the analysis tools
read files through :func:`safe_load`. It

* names what a path is before reading it: missing, not a regular file,
  empty, text (an HTML error page), another archive, a truncated file;
* reads ``.safetensors`` files (tensors and string metadata only);
* checks a ``torch.save`` zip before unpickling: every CRC matches, no
  entry is compressed, ``data.pkl`` is of a sane length and refers to none
  of the rebuild functions that create more data than the file holds;
* unpickles with torch's weights-only unpickler, allowing only what field
  checkpoints need on top of torch's defaults (:data:`FIELD_GLOBALS`);
* checks the result is plain data: containers, numbers, strings,
  ``argparse.Namespace`` and tensors whose elements are all in the file.

Anything else is refused, naming the file and what it uses, unless the
file was explicitly trusted (:mod:`.trust`).
"""
import argparse
import json
import logging
import os
import os.path as osp
import pickle
import pickletools
import stat
import zipfile
from collections import OrderedDict
from typing import Any, List, Set

import torch
from mmengine.logging import print_log

from .errors import (CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .trust import how_to_trust, is_trusted

# Key of the JSON metadata under which a converted checkpoint's ``meta``
# travels in a safetensors file (its tensors are the ``state_dict``).
SAFETENSORS_META_KEY = 'mmtec_meta'
# A ViT-L training checkpoint's data.pkl is about 0.1 MB and 30k opcodes;
# these bounds leave a wide margin and keep a crafted file from holding
# the unpickler for minutes.
MAX_PICKLE_BYTES = 64 << 20
MAX_PICKLE_OPCODES = 2_000_000
MAX_DEPTH = 64
_AGAIN = 'Download or save it again.'


class ForeignObject:
    """What an MMEngine ``HistoryBuffer``, numpy value or ``getattr`` of a
    training checkpoint of another run becomes: nothing.

    It takes any arguments and state and keeps none of them, so no code
    and no data of the file reaches it; the checkpoint parts holding it
    are dropped after loading (see :func:`_drop_foreign_parts`).
    """
    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


# MMEngine's Runner writes these into ``message_hub`` and ``meta``; numpy
# moved its reconstructors to ``numpy._core`` in 2.0.
_FOREIGN_NAMES = [
    'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
    'numpy.dtype', 'numpy.ndarray'
] + [
    f'numpy.{core}.multiarray.{name}' for core in ('core', '_core')
    for name in ('_reconstruct', 'scalar')
]
# where MMEngine's Runner puts objects that are not plain data
FOREIGN_PARTS = ('message_hub', 'meta')

#: Allowed on top of torch's weights-only defaults: the ``args`` that MAE,
#: TEC, DINO, iBOT and timm save, and the inert stand-ins above.
FIELD_GLOBALS = [argparse.Namespace] + [(ForeignObject, name)
                                        for name in _FOREIGN_NAMES]

# Allowed by torch's defaults, but each builds data that is not in the file
# (an allocation of any size, an expanded or materialised tensor) and no
# ViT checkpoint needs them.
_EXPANDING_GLOBALS = {
    'builtins bytearray', '__builtin__ bytearray',
    'torch._utils _rebuild_device_tensor_from_cpu_tensor',
    'torch._utils _rebuild_device_tensor_from_numpy',
    'torch._utils _rebuild_sparse_tensor',
    'torch._utils _rebuild_meta_tensor_no_storage',
    'torch._utils _rebuild_wrapper_subclass',
    'torch._utils _rebuild_nested_tensor', 'torch._utils _rebuild_qtensor'
}
_PLAIN = (str, bytes, int, float, complex, bool, type(None), torch.dtype,
          torch.device)


def _refuse(filename: str, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'Refused to load "{filename}": {what}. The checkpoint loader only '
        'rebuilds tensors and plain data (numbers, strings, containers, '
        'argparse.Namespace); anything else could run code or take memory '
        'hidden in the file, which may be malicious. ' +
        how_to_trust(filename), filename, what)


# --------------------------------------------------------------------------
# what the file is
# --------------------------------------------------------------------------
def _check_path(filename: str) -> int:
    """The file's size; raises the missing/empty/not-a-file errors."""
    if not filename.strip():
        raise CheckpointNotFoundError(
            'Checkpoint path is empty: the config field, option or '
            'last_checkpoint file that should name a checkpoint holds no '
            'path. Give the path of a checkpoint file.', filename)
    if not osp.exists(filename):
        raise CheckpointNotFoundError(
            f'Checkpoint file "{filename}" does not exist. Check the path '
            '(relative paths are resolved from the current directory).',
            filename)
    mode = os.stat(filename).st_mode
    if stat.S_ISDIR(mode):
        raise NotACheckpointError(
            f'Checkpoint path "{filename}" is a directory, not a file.',
            filename)
    if not stat.S_ISREG(mode):
        raise NotACheckpointError(
            f'Checkpoint path "{filename}" is not a regular file (a device, '
            'pipe or socket). Give the path of a checkpoint file.', filename)
    size = osp.getsize(filename)
    if size == 0:
        raise EmptyCheckpointError(
            f'Checkpoint file "{filename}" is empty (0 bytes): its save or '
            f'download was interrupted. {_AGAIN}', filename)
    return size


def _kind(filename: str, size: int) -> str:
    """``'zip'``, ``'legacy'`` or ``'safetensors'``, or a clear error."""
    with open(filename, 'rb') as f:
        head = f.read(64)
    if head.startswith(b'PK\x03\x04'):
        return 'zip'
    if len(head) >= 10 and head[8:9] == b'{':
        if 8 + int.from_bytes(head[:8], 'little') <= size:
            return 'safetensors'
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is a truncated or corrupt '
            f'safetensors file ({size} bytes, shorter than its header '
            f'says). {_AGAIN}', filename)
    if head[:1] == b'\x80':
        return 'legacy'
    text = head.decode('utf-8', errors='replace')
    if text.strip() and all(c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:60]
        raise NotACheckpointError(
            f'"{filename}" is a text file, not a checkpoint (it starts with '
            f'"{first}"); a failed download often saves an HTML or error '
            f'page. {_AGAIN}', filename)
    raise NotACheckpointError(
        f'"{filename}" is not a checkpoint: neither a torch.save file nor '
        f'safetensors (first bytes {head[:8]!r}).', filename)


def _check_zip(filename: str, size: int) -> bytes:
    """Integrity and shape of a ``torch.save`` archive; its ``data.pkl``."""
    try:
        with zipfile.ZipFile(filename) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if any(n.endswith('/constants.pkl') for n in names):
                raise NotACheckpointError(
                    f'"{filename}" is a TorchScript archive, not a '
                    'checkpoint; load it with torch.jit.load or export its '
                    'state_dict.', filename)
            pickles = [i for i in infos if i.filename.endswith('data.pkl')]
            if len(pickles) != 1:
                raise NotACheckpointError(
                    f'"{filename}" is a zip archive but not a PyTorch '
                    f'checkpoint (no single data.pkl among {names[:5]}).',
                    filename)
            packed = [i.filename for i in infos
                      if i.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise _refuse(filename, f'its entries {packed[:3]} are '
                              'compressed (torch.save never compresses; a '
                              'small compressed entry can expand to '
                              'gigabytes)')
            if pickles[0].file_size > MAX_PICKLE_BYTES:
                raise _refuse(filename, f'its data.pkl has '
                              f'{pickles[0].file_size} bytes (more than '
                              f'{MAX_PICKLE_BYTES})')
            damaged = archive.testzip()  # reads every entry, checks CRCs
            if damaged is not None:
                raise CorruptCheckpointError(
                    f'Checkpoint file "{filename}" is corrupt: the bytes of '
                    f'its entry {damaged} do not match their checksum (a '
                    f'damaged disk, copy or download). {_AGAIN}', filename)
            return archive.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is truncated or corrupt: its zip '
            f'archive is damaged ({size} bytes; {err}). The save or download '
            f'was probably cut short. {_AGAIN}', filename) from err


def _scan_pickle(filename: str, data: bytes) -> None:
    """Bound the unpickler's work and refuse expanding rebuild functions,
    without running anything (``pickletools`` only reads opcodes)."""
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(data)):
            if count >= MAX_PICKLE_OPCODES:
                raise _refuse(filename, f'its pickle has more than '
                              f'{MAX_PICKLE_OPCODES} opcodes')
            if op.name == 'GLOBAL' and arg in _EXPANDING_GLOBALS:
                raise _refuse(filename, f'it uses {arg.replace(" ", ".")}, '
                              'which builds data that is not in the file')
    except (ValueError, EOFError) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is truncated or corrupt: its '
            f'data.pkl is not a valid pickle ({err}). {_AGAIN}',
            filename) from None


# --------------------------------------------------------------------------
# what the file holds
# --------------------------------------------------------------------------
def _check_tensor(filename: str, t: torch.Tensor) -> None:
    if type(t) not in (torch.Tensor, torch.nn.Parameter) or \
            t.layout is not torch.strided or t.is_meta or t.is_quantized:
        raise _refuse(filename, f'it holds a {type(t).__name__} of layout '
                      f'{t.layout}, not a plain dense tensor')
    if t.numel() > t.untyped_storage().nbytes() // max(t.element_size(), 1):
        raise _refuse(filename, f'a tensor of shape {tuple(t.shape)} claims '
                      f'{t.numel()} elements but its storage holds '
                      f'{t.untyped_storage().nbytes()} bytes')


def _walk(filename: str, obj: Any) -> Set[str]:
    """Check ``obj`` is plain data; the top-level keys holding stand-ins."""
    foreign: Set[str] = set()
    stack = [(obj, 0, None)]
    while stack:
        value, depth, top = stack.pop()
        if depth > MAX_DEPTH:
            raise _refuse(filename, f'it nests containers more than '
                          f'{MAX_DEPTH} deep')
        kind = type(value)
        if kind is ForeignObject:
            foreign.add(top)
        elif isinstance(value, torch.Tensor):
            _check_tensor(filename, value)
        elif kind in (dict, OrderedDict):
            for k, v in value.items():
                stack.append((k, depth + 1, top))
                stack.append((v, depth + 1, k if depth == 0 else top))
        elif kind in (list, tuple, set, frozenset, torch.Size):
            stack.extend((v, depth + 1, top) for v in value)
        elif kind is argparse.Namespace:
            stack.append((vars(value), depth + 1, top))
        elif kind not in _PLAIN:
            raise _refuse(filename, f'it holds a {kind.__module__}.'
                          f'{kind.__qualname__}, which is not plain data')
    return foreign


def _drop_foreign_parts(filename: str, obj: Any, foreign: Set[str]) -> Any:
    """An MMEngine training checkpoint of another run: keep its weights,
    drop the parts (message hub, meta) that hold MMEngine/numpy objects."""
    if not foreign:
        return obj
    if not isinstance(obj, dict) or not foreign <= set(FOREIGN_PARTS):
        where = sorted(str(k) for k in foreign)
        raise _refuse(filename, f'it holds MMEngine or numpy objects (under '
                      f'{where}) outside the message_hub and meta where '
                      "MMEngine's Runner writes them")
    print_log(
        f'"{filename}" is a training checkpoint of another MMEngine run: '
        f'skipped its {", ".join(sorted(foreign))} (MMEngine and numpy '
        'objects, not plain data) and read the rest.', logger='current')
    return {k: v for k, v in obj.items() if k not in foreign}


def _load_safetensors(filename: str, map_location: Any) -> dict:
    from safetensors import SafetensorError, safe_open
    device = map_location if isinstance(map_location,
                                        (str, torch.device)) else 'cpu'
    try:
        with safe_open(filename, framework='pt', device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is a truncated or corrupt '
            f'safetensors file: {err}. {_AGAIN}', filename) from err
    if SAFETENSORS_META_KEY not in metadata:
        return tensors
    try:
        meta = json.loads(metadata[SAFETENSORS_META_KEY])
        _walk(filename, meta)
    except (ValueError, RecursionError) as err:
        raise CorruptCheckpointError(
            f'"{filename}": its {SAFETENSORS_META_KEY} metadata is not '
            f'readable JSON ({type(err).__name__}).', filename) from None
    return dict(state_dict=tensors, meta=meta)


def _unsafe_globals(filename: str) -> List[str]:
    try:
        with torch.serialization.safe_globals(FIELD_GLOBALS):
            return sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(
                    filename))
    except Exception:  # the scan is only for the message
        return []


def _load_torch_zip(filename: str, size: int, map_location: Any) -> Any:
    _scan_pickle(filename, _check_zip(filename, size))
    try:
        with torch.serialization.safe_globals(FIELD_GLOBALS):
            obj = torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        names = _unsafe_globals(filename)
        if names:
            raise _refuse(filename, f'it uses {", ".join(names)}') from None
        first = str(err).strip().splitlines()[0][:200]
        raise _refuse(filename, 'it uses a construct torch\'s weights-only '
                      f'unpickler refuses ({first})') from None
    except Exception as err:  # noqa: BLE001
        # the bytes are as written (checksums match): only a crafted or
        # foreign pickle fails here
        raise _refuse(filename, 'it is not a pickle that torch.save writes '
                      f'({type(err).__name__}: {str(err).strip()[:200]})'
                      ) from None
    return _drop_foreign_parts(filename, obj, _walk(filename, obj))


def safe_load(filename: str, map_location: Any = 'cpu',
              trust: bool = False) -> Any:
    """Load a checkpoint file without running code from it.

    Args:
        filename (str): Path of a local ``torch.save`` or safetensors file.
        map_location (Any): Passed to :func:`torch.load` (for safetensors:
            a device). Defaults to 'cpu'.
        trust (bool): The caller's config marks this file as trusted (see
            :mod:`mmtec.checkpoint.trust`; the environment variable and the
            CLI flag count too). Only used when the file is refused.

    Returns:
        Any: The loaded object, usually a dict. A safetensors file gives
        its tensors, or ``{'state_dict', 'meta'}`` when written by mmtec's
        converter.

    Raises:
        CheckpointError: One subclass per failure kind, naming the file.

    Example:
        >>> import torch, tempfile, os.path as osp
        >>> path = osp.join(tempfile.mkdtemp(), 'w.pth')
        >>> torch.save({'state_dict': {'w': torch.ones(2)}, 'epoch': 3}, path)
        >>> safe_load(path)['epoch']
        3
    """
    filename = osp.expanduser(os.fspath(filename))
    size = _check_path(filename)
    kind = _kind(filename, size)
    if kind == 'safetensors':
        return _load_safetensors(filename, map_location)
    try:
        if kind == 'legacy':
            raise _refuse(filename, 'it is a legacy (torch < 1.6) or bare '
                          'pickle, which the loader does not check')
        return _load_torch_zip(filename, size, map_location)
    except UnsafeCheckpointError as err:
        if not (trust or is_trusted(filename)):
            raise
        print_log(
            f'LOADING "{filename}" WITHOUT THE CHECKS ({err.refused}): it '
            'can run any code it contains. Allowed only because the file is '
            'marked as trusted.',
            logger='current',
            level=logging.WARNING)
        return torch.load(
            filename, map_location=map_location, weights_only=False)
