"""The one loader of every checkpoint file mmtec reads.

Base models, ``--resume``/``load_from`` (through MMEngine's
``CheckpointLoader``), converters, downstream backbones and the analysis
tools all read files here. The loader

* tells the failure kinds apart before reading: missing, empty, not a
  checkpoint (text such as an HTML error page, another archive), truncated
  or corrupt, each with its own error (see :mod:`.errors`);
* reads ``.safetensors`` files (which hold tensors only) whatever their
  extension;
* reads ``torch.save`` files with torch's weights-only unpickler, whose
  allow-list is, for the duration of the load, exactly torch's own plus the
  narrow stand-ins of :mod:`.allow_list` (no ``getattr`` or other generic
  callable), then checks the result is data;
* refuses everything else as possibly malicious, unless the file was
  explicitly trusted (:mod:`.trust`): then it is loaded with
  ``weights_only=False`` and a WARNING names it.
"""
import contextlib
import json
import logging
import os
import os.path as osp
import pickle
import re
import threading
import zipfile
from typing import Any

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .allow_list import RefusedByAllowList, allowed_globals, finalize
from .errors import (CheckpointNotFoundError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .trust import how_to_trust, is_trusted

# Key of the JSON metadata under which a converted checkpoint's ``meta``
# travels in a safetensors file (its tensors are the ``state_dict``).
SAFETENSORS_META_KEY = 'mmtec_meta'

_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = 0x80
_AGAIN = 'Download or save it again.'
# torch's weights-only allow-list is process-wide; loads take turns
_allow_list_lock = threading.Lock()


@contextlib.contextmanager
def _only_our_allow_list():
    """Torch's own allow-list plus ours, and nothing anybody else added."""
    with _allow_list_lock:
        saved = torch.serialization.get_safe_globals()
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(allowed_globals())
        try:
            yield
        finally:
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals(saved)


def _sniff(filename: str) -> str:
    """``'torch_zip'``, ``'torch_legacy'`` or ``'safetensors'``; raises the
    missing/empty/not-a-checkpoint/truncated errors."""
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
    if osp.isdir(filename):
        raise NotACheckpointError(
            f'Checkpoint path "{filename}" is a directory, not a file.',
            filename)
    size = osp.getsize(filename)
    if size == 0:
        raise EmptyCheckpointError(
            f'Checkpoint file "{filename}" is empty (0 bytes): its save or '
            f'download was interrupted. {_AGAIN}', filename)
    with open(filename, 'rb') as f:
        head = f.read(64)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(filename) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise CorruptCheckpointError(
                f'Checkpoint file "{filename}" is truncated or corrupt: the '
                f'end of its zip archive is missing or damaged ({size} bytes; '
                f'{err}). The save or download was probably cut short. '
                f'{_AGAIN}',
                filename) from err
        if any(n.endswith('/constants.pkl') for n in names):
            raise NotACheckpointError(
                f'"{filename}" is a TorchScript archive, not a checkpoint; '
                'load it with torch.jit.load or export its state_dict.',
                filename)
        if not any(n.endswith('data.pkl') for n in names):
            raise NotACheckpointError(
                f'"{filename}" is a zip archive but not a PyTorch checkpoint '
                f'(no data.pkl among {names[:5]}).', filename)
        return 'torch_zip'
    if len(head) >= 10 and head[8:9] == b'{' and \
            8 + int.from_bytes(head[:8], 'little') <= size:
        return 'safetensors'
    if len(head) >= 10 and head[8:9] == b'{':
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is a truncated or corrupt '
            f'safetensors file ({size} bytes, shorter than its header '
            f'says). {_AGAIN}', filename)
    if head[0] == _PICKLE_PROTO:
        return 'torch_legacy'
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        text = None
    if text is not None and text.strip() and all(
            c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:60]
        raise NotACheckpointError(
            f'"{filename}" is a text file, not a checkpoint (it starts with '
            f'"{first}"); a failed download often saves an HTML or error '
            f'page. {_AGAIN}', filename)
    raise NotACheckpointError(
        f'"{filename}" is not a checkpoint: neither a torch.save file nor '
        f'safetensors (first bytes {head[:8]!r}).', filename)


def _load_safetensors(filename: str, map_location: Any) -> dict:
    from safetensors import SafetensorError, safe_open
    device = map_location if isinstance(map_location,
                                        (str, torch.device)) else 'cpu'
    try:
        with safe_open(filename, framework='pt', device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is a truncated or corrupt '
            f'safetensors file: {err}. {_AGAIN}', filename) from err
    if SAFETENSORS_META_KEY not in metadata:
        return tensors
    try:
        meta = json.loads(metadata[SAFETENSORS_META_KEY])
    except ValueError as err:
        raise CorruptCheckpointError(
            f'"{filename}": its {SAFETENSORS_META_KEY} metadata is not '
            f'JSON ({err}).', filename) from err
    return dict(state_dict=tensors, meta=meta)


_UNSUPPORTED_GLOBAL = re.compile(r'GLOBAL (\S+) (?:was not|whose module)')
_REFUSED_CONSTRUCTS = ('Unsupported global', 'Can only', 'Trying to call',
                       'Unsupported operand', 'persistent_load',
                       'Only persistent_load')


def _unsafe(filename: str, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'Refused to load "{filename}": {what}. The checkpoint loader only '
        'rebuilds tensors, plain data, numpy numbers/arrays and MMEngine '
        'HistoryBuffers; anything else could run code hidden in the file, '
        'which may be malicious. ' + how_to_trust(filename), filename, what)


def _load_pickled(filename: str, map_location: Any) -> Any:
    """torch.load with the allow-list; errors mapped to the failure kinds."""
    try:
        with _only_our_allow_list():
            loaded = torch.load(
                filename, map_location=map_location, weights_only=True)
        return finalize(loaded)
    except RefusedByAllowList as err:
        raise _unsafe(filename, str(err)) from None
    except pickle.UnpicklingError as err:
        message = str(err)
        found = _UNSUPPORTED_GLOBAL.search(message)
        if found:
            raise _unsafe(filename, f'it uses the global {found.group(1)}, '
                          'which is not allowed') from None
        if any(s in message for s in _REFUSED_CONSTRUCTS):
            first = message.split('\n')[0].strip() or message
            for line in message.splitlines():
                if any(s in line for s in _REFUSED_CONSTRUCTS):
                    first = line.strip()
                    break
            raise _unsafe(filename, f'it uses a construct that is not '
                          f'allowed ({first})') from None
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is corrupt: '
            f'{message.strip().rstrip(".")}. '
            f'{_AGAIN}', filename) from None
    except (EOFError, zipfile.BadZipFile) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is truncated or corrupt: it ends '
            f'before its data does ({type(err).__name__}). {_AGAIN}',
            filename) from err
    except (RuntimeError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, OverflowError, MemoryError) as err:
        raise CorruptCheckpointError(
            f'Checkpoint file "{filename}" is truncated, corrupt or not '
            f'written by torch.save: {type(err).__name__}: '
            f'{str(err).strip()[:300].rstrip(".")}. {_AGAIN}',
            filename) from err


def safe_load(filename: str, map_location: Any = 'cpu',
              trust: bool = False) -> Any:
    """Load a checkpoint file without running code from it.

    Args:
        filename (str): Path of a local ``torch.save`` or safetensors file.
        map_location (Any): Passed to :func:`torch.load` (for safetensors:
            a device). Defaults to 'cpu'.
        trust (bool): The caller's config marks this file as trusted (see
            :mod:`mmtec.checkpoint.trust`; the environment variable and the
            CLI flag count too). Only used when the allow-list refuses it.

    Returns:
        Any: The loaded object, usually a dict. A safetensors file gives
        its tensors, or ``{'state_dict', 'meta'}`` when written by mmtec's
        converter.

    Raises:
        CheckpointError: One subclass per failure kind, naming the file.
    """
    filename = osp.expanduser(os.fspath(filename))
    kind = _sniff(filename)
    if kind == 'safetensors':
        return _load_safetensors(filename, map_location)
    try:
        return _load_pickled(filename, map_location)
    except UnsafeCheckpointError as err:
        if not (trust or is_trusted(filename)):
            raise
        print_log(
            f'LOADING "{filename}" WITHOUT THE ALLOW-LIST ({err.refused}): '
            'it can run any code it contains. Allowed only because the file '
            'is marked as trusted.',
            logger='current',
            level=logging.WARNING)
        return torch.load(
            filename, map_location=map_location, weights_only=False)


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    return safe_load(filename, map_location=map_location)


def register_safe_local_loader() -> None:
    """Make MMEngine read local and http(s) checkpoints through
    :func:`safe_load` (``load_from``, ``--resume``, ``Pretrained`` init,
    ``get_model(pretrained=...)``)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    from .download import load_from_url
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_url, force=True)
