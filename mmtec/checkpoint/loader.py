"""The one loader of every checkpoint file mmtec reads: :func:`safe_load`.

On torch's weights-only unpickler (with torch's public ``safe_globals``)
and safetensors, it adds what they do not check: what a path is (missing,
empty, text, another archive), the zip's CRCs, no compressed entry, a
bounded ``data.pkl`` naming no rebuild function that expands data, and a
result of plain data with tensors holding their bytes, of bounded depth
and items. Anything else is refused, naming the file, unless trusted.
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
from collections import Counter, OrderedDict
from contextlib import suppress
from typing import Any, Set

import torch
from mmengine.logging import print_log
from torch import serialization

from .errors import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    EmptyCheckpointError,
    NotACheckpointError,
    UnsafeCheckpointError,
)
from .plain_data import FIELD_GLOBALS, FOREIGN_PARTS, ForeignObject
from .trust import ENV_VAR, is_trusted

# Key of the JSON metadata under which a converted checkpoint's ``meta``
# travels in a safetensors file (its tensors are the ``state_dict``).
SAFETENSORS_META_KEY = 'mmtec_meta'
# A training checkpoint of ViT-L's depth with AdamW state (1176 tensors)
# has a 0.12 MB data.pkl of 39k opcodes: wide margins that still keep a
# crafted file from holding the unpickler for minutes.
MAX_PICKLE_BYTES = 64 << 20
MAX_PICKLE_OPCODES = 2_000_000
MAX_DEPTH = 64
_AGAIN = 'Download or save it again.'
# in torch's defaults, but each builds data that is not in the file (an
# allocation of any size, an expanded tensor); no ViT checkpoint uses them
_EXPANDING = {'builtins bytearray', '__builtin__ bytearray'} | {
    'torch._utils _rebuild_' + name for name in (
        'device_tensor_from_cpu_tensor', 'device_tensor_from_numpy',
        'sparse_tensor', 'meta_tensor_no_storage', 'wrapper_subclass',
        'nested_tensor', 'qtensor')
}
_PLAIN = (str, bytes, int, float, complex, bool, type(None), torch.dtype,
          torch.device)
_CONTAINERS = (dict, OrderedDict, Counter, list, tuple, set, frozenset,
               torch.Size, argparse.Namespace)


def _refuse(filename: str, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'Refused to load "{filename}": {what}. The loader only rebuilds '
        'tensors and plain data; anything else could run code or take '
        'memory hidden in the file, which may be malicious. If you trust '
        f'this file and its source, opt in explicitly: {ENV_VAR}='
        f'{filename}, the --trust-checkpoint flag of the tool, or '
        'trust=True next to the checkpoint in the config.', filename, what)


def _kind(filename: str) -> str:
    """``'zip'``, ``'legacy'`` or ``'safetensors'``, or a clear error."""
    if not osp.exists(filename):
        raise CheckpointNotFoundError(
            f'Checkpoint file "{filename}" does not exist. Check the path '
            '(relative paths are resolved from the current directory).'
            if filename.strip() else 'Checkpoint path is empty: the config '
            'field, option or last_checkpoint file that should name one '
            'holds none.', filename)
    mode = os.stat(filename).st_mode
    if not stat.S_ISREG(mode):
        what = 'a directory' if stat.S_ISDIR(mode) else \
            'not a regular file (a device, pipe or socket)'
        raise NotACheckpointError(
            f'Checkpoint path "{filename}" is {what}: give the path of a '
            'checkpoint file.', filename)
    with open(filename, 'rb') as f:
        head = f.read(64)
    if not head:
        raise EmptyCheckpointError(
            f'Checkpoint file "{filename}" is empty (0 bytes): its save or '
            f'download was interrupted. {_AGAIN}', filename)
    if head.startswith(b'PK\x03\x04'):
        return 'zip'
    if head[8:9] == b'{':
        return 'safetensors'
    if head[:1] == b'\x80':
        return 'legacy'
    text = head.decode('utf-8', errors='replace').strip()
    if text and all(c.isprintable() or c.isspace() for c in text):
        raise NotACheckpointError(
            f'"{filename}" is a text file, not a checkpoint (it starts with '
            f'"{text.splitlines()[0][:60]}"); a failed download often '
            f'saves an HTML or error page. {_AGAIN}', filename)
    raise NotACheckpointError(
        f'"{filename}" is not a checkpoint: neither a torch.save file nor '
        f'safetensors (first bytes {head[:8]!r}).', filename)


def _check_zip(filename: str) -> None:
    """Integrity and shape of a ``torch.save`` archive, before unpickling
    (``pickletools`` only reads opcodes)."""
    try:
        with zipfile.ZipFile(filename) as archive:
            infos = archive.infolist()
            pickles = [i for i in infos if i.filename.endswith('data.pkl')]
            if len(pickles) != 1 or any(
                    i.filename.endswith('/constants.pkl') for i in infos):
                raise NotACheckpointError(
                    f'"{filename}" is a zip archive but not a PyTorch '
                    'checkpoint (TorchScript archives load with '
                    'torch.jit.load).', filename)
            packed = [i.filename for i in infos
                      if i.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise _refuse(filename, f'its entries {packed[:3]} are '
                              'compressed (torch.save never compresses; a '
                              'small compressed entry can expand to '
                              'gigabytes)')
            if pickles[0].file_size > MAX_PICKLE_BYTES:
                raise _refuse(filename, f'its data.pkl has '
                              f'{pickles[0].file_size} bytes')
            damaged = archive.testzip()  # reads every entry, checks CRCs
            if damaged is not None:
                raise CorruptCheckpointError(
                    f'Checkpoint file "{filename}" is corrupt: the bytes of '
                    f'its entry {damaged} do not match their checksum (a '
                    f'damaged disk, copy or download). {_AGAIN}', filename)
            data = archive.read(pickles[0])
        for count, (op, arg, _) in enumerate(pickletools.genops(data)):
            if count >= MAX_PICKLE_OPCODES:
                raise _refuse(filename, f'its pickle has more than '
                              f'{MAX_PICKLE_OPCODES} opcodes')
            if op.name == 'GLOBAL' and arg in _EXPANDING:
                raise _refuse(filename, f'it uses {arg.replace(" ", ".")}, '
                              'which builds data that is not in the file')
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is truncated or corrupt '
            f'({type(err).__name__}: {err}); the save or download was '
            f'probably cut short. {_AGAIN}', filename) from None


def _children(filename: str, value: Any) -> list:
    """``(top-level label, child)`` of a container, [] for anything else;
    the attributes BUILD gives an ``OrderedDict`` or ``Counter`` too (one
    named like a method, ``items``, would hide the items from any reader)."""
    kind = type(value)
    if kind in (dict, OrderedDict, Counter):
        attrs = vars(value) if kind is not dict else {}
        hiding = [n for n in attrs if isinstance(n, str) and hasattr(kind, n)]
        if hiding:
            raise _refuse(filename, f'it sets the attribute "{hiding[0]}" '
                          f'on its {kind.__name__}, which hides the method '
                          'of that name')
        return [(None, k) for k in dict.keys(value)] + list(
            dict.items(value)) + [(None, v) for v in attrs.values()]
    if kind in (list, tuple, set, frozenset, torch.Size):
        return [(None, v) for v in value]
    return [(None, vars(value))] if kind is argparse.Namespace else []


def _walk(filename: str, obj: Any) -> Set[Any]:
    """Check ``obj`` is plain data; the top-level keys holding stand-ins.
    Each container is checked once (the work is bounded by the opcodes);
    its items are counted along every path, as a naive walk would see them.
    """
    seen = {}  # id of a container -> (height, items on every path, foreign)

    def check(value: Any, depth: int):
        kind = type(value)
        if kind is ForeignObject:
            return 0, 1, True
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage().nbytes() \
                if value.layout is torch.strided and not value.is_meta else 0
            if kind not in (torch.Tensor, torch.nn.Parameter) or \
                    value.is_quantized or value.numel() * \
                    value.element_size() > storage:
                raise _refuse(filename, f'a {kind.__name__} of shape '
                              f'{tuple(value.shape)} claims more elements '
                              f'than the {storage} bytes it holds')
            return 0, 1, False
        if kind in _PLAIN:
            return 0, 1, False
        if kind not in _CONTAINERS:
            raise _refuse(filename, f'it holds a {kind.__module__}.'
                          f'{kind.__qualname__}, which is not plain data')
        if id(value) not in seen and depth <= MAX_DEPTH:
            seen[id(value)] = None  # met again inside itself: endless
            height, items, foreign = 0, 1, False
            for _, child in _children(filename, value):
                below, more, holds = check(child, depth + 1)
                height, items = max(height, below + 1), items + more
                foreign = foreign or holds
                if items > MAX_PICKLE_OPCODES:
                    raise _refuse(filename, f'its containers hold more than '
                                  f'{MAX_PICKLE_OPCODES} items counted along '
                                  'every path (shared references repeat '
                                  'what they hold)')
            seen[id(value)] = height, items, foreign
        # a container met again deeper may not pass the limit on this path
        found = seen.get(id(value))
        if found is None or depth + found[0] > MAX_DEPTH:
            raise _refuse(filename, f'it nests containers more than '
                          f'{MAX_DEPTH} deep')
        return found

    if type(obj) is ForeignObject:
        return {None}
    check(obj, 0)
    return {label for label, child in _children(filename, obj)
            if check(child, 1)[2]}


def _load_torch_zip(filename: str, map_location: Any) -> Any:
    _check_zip(filename)
    try:
        with serialization.safe_globals(FIELD_GLOBALS):
            obj = torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        names = None
        with suppress(Exception), serialization.safe_globals(FIELD_GLOBALS):
            # torch's own scan names what its unpickler refused
            names = ', '.join(sorted(
                serialization.get_unsafe_globals_in_checkpoint(filename)))
        raise _refuse(filename, f'it uses {names}' if names else 'it uses '
                      "a construct torch's weights-only unpickler refuses "
                      f'({str(err).strip().splitlines()[0][:200]})') from None
    except Exception as err:  # noqa: BLE001
        # the checksums match, so only a crafted or foreign pickle fails
        raise _refuse(filename, 'it is not a pickle that torch.save writes '
                      f'({type(err).__name__}: {str(err).strip()[:200]})'
                      ) from None
    foreign = _walk(filename, obj)
    if foreign and (not isinstance(obj, dict)
                    or not foreign <= FOREIGN_PARTS):
        raise _refuse(filename, 'it holds MMEngine or numpy objects (under '
                      f'{sorted(map(str, foreign))}) outside the '
                      "message_hub and meta where MMEngine's Runner writes "
                      'them')
    if foreign:  # a training checkpoint of another run: its weights count
        print_log(
            f'"{filename}" is a training checkpoint of another MMEngine run: '
            f'skipped its {", ".join(sorted(foreign))} (MMEngine and numpy '
            'objects, not plain data) and read the rest.', logger='current')
        obj = {k: v for k, v in obj.items() if k not in foreign}
    return obj


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
    except (ValueError, RecursionError, UnsafeCheckpointError) as err:
        raise CorruptCheckpointError(
            f'"{filename}": its {SAFETENSORS_META_KEY} metadata is not '
            f'readable JSON ({type(err).__name__}).', filename) from None
    return dict(state_dict=tensors, meta=meta)


def safe_load(filename: str, map_location: Any = 'cpu',
              trust: bool = False) -> Any:
    """Load a checkpoint file without running code from it.

    Args:
        filename (str): Path of a local ``torch.save`` or safetensors file.
        map_location (Any): Passed to :func:`torch.load` (for safetensors:
            a device). Defaults to 'cpu'.
        trust (bool): The config marks this file as trusted (see
            :mod:`mmtec.checkpoint.trust`); used only if it is refused.

    Returns:
        Any: The loaded object; for safetensors its tensors, or
        ``{'state_dict', 'meta'}`` when written by mmtec's converter.

    Raises:
        CheckpointError: One subclass per failure kind, naming the file.

    Example:
        >>> import os.path as osp, tempfile, torch
        >>> path = osp.join(tempfile.mkdtemp(), 'w.pth')
        >>> torch.save({'state_dict': {'w': torch.ones(2)}, 'epoch': 3}, path)
        >>> safe_load(path)['epoch']
        3
    """
    filename = osp.expanduser(os.fspath(filename))
    kind = _kind(filename)
    if kind == 'safetensors':
        return _load_safetensors(filename, map_location)
    try:
        if kind == 'legacy':
            raise _refuse(filename, 'it is a legacy (torch < 1.6) or bare '
                          'pickle, which the loader does not check')
        return _load_torch_zip(filename, map_location)
    except UnsafeCheckpointError as err:
        if not (trust or is_trusted(filename)):
            raise
        print_log(
            f'LOADING "{filename}" WITHOUT THE CHECKS ({err.refused}): it '
            'can run any code it contains. Allowed only because the file is '
            'marked as trusted.', logger='current', level=logging.WARNING)
        return torch.load(
            filename, map_location=map_location, weights_only=False)
