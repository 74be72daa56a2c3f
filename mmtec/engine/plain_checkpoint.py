"""Training checkpoints as plain data, readable by ``weights_only`` loading.

MMEngine saves the message hub's ``HistoryBuffer`` objects (pickled with
``builtins.getattr``) and numpy arrays and scalars (runtime info such as
``eta``, metrics, RNG states), which torch's stock
``torch.load(path, weights_only=True)`` refuses. :func:`to_plain` turns a
checkpoint into tensors, numbers, strings, lists, tuples and dicts only
(plus ``bytes`` and torch's ``Size``/``dtype``/``device``, which that loader
also reads) and lists what it converted, with the original types, under
``checkpoint['converted_types']``; :func:`from_plain` reads that list and
gives back the original objects, so a resumed run sees what MMEngine saved.

A converted entry is stored as

* ``HistoryBuffer`` -> ``dict(log_history=tensor, count_history=tensor,
  max_length=int)``, rebuilt with ``HistoryBuffer``'s constructor;
* numpy array -> tensor of the same dtype (native byte order);
* numpy scalar -> python number (``.item()``);
* numpy dtype -> its string (``'<f4'``);

and each is listed as ``dict(path=[key, ...], type=..., dtype=...)``.
Anything else that is not plain data is refused with an error naming its
key path, never dropped.
"""
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

CONVERTED_TYPES_KEY = 'converted_types'

# What torch's weights-only unpickler reads without any allow-listing.
_PLAIN_LEAVES = (type(None), bool, int, float, complex, str, bytes,
                 torch.Size, torch.dtype, torch.device)
_TENSORS = (torch.Tensor, torch.nn.Parameter)
# Counter: MultiStepLR's milestones; torch's weights-only list has it
_DICTS = (dict, OrderedDict, Counter)
_SEQUENCES = (list, tuple)
_KEYS = (str, int, float, bool, type(None))
_TYPES = ('HistoryBuffer', 'numpy.ndarray', 'numpy.generic', 'numpy.dtype')
_MAX_DEPTH = 100


class NotPlainDataError(TypeError):
    """A checkpoint entry that cannot be stored as plain data."""


def key_path(path) -> str:
    """The readable form of a key path.

    Example: ``['meta', 'rng_states', 0]`` ->
    ``checkpoint['meta']['rng_states'][0]``.

    Args:
        path (Sequence): Dict keys and list/tuple indices, outermost first.
    """
    return 'checkpoint' + ''.join(f'[{key!r}]' for key in path)


def _refuse(path, message: str):
    raise NotPlainDataError(
        f'{key_path(path)} {message}: it cannot be saved as plain data. A '
        'checkpoint may only hold tensors, '
        'numbers, strings, lists, tuples and dicts (numpy values and '
        "MMEngine's HistoryBuffer are converted to those): convert it in "
        'the code that puts it into the checkpoint or the message hub, or '
        'leave it out.')


def _array_to_tensor(array: np.ndarray, path) -> torch.Tensor:
    if array.dtype.kind not in 'biufc' or array.dtype.fields is not None:
        _refuse(path, f'is a numpy array of dtype {array.dtype}, which has '
                'no tensor dtype')
    # copy: no memory shared with the live array; native byte order
    native = np.array(array, dtype=array.dtype.newbyteorder('='), order='C')
    return torch.from_numpy(native)


class _ToPlain:
    """One conversion: walks a value, records what it converts."""

    def __init__(self):
        self.converted: List[dict] = []
        self._open = set()  # ids of the containers being walked

    def _record(self, path, kind: str, **extra) -> None:
        self.converted.append(dict(path=list(path), type=kind, **extra))

    def __call__(self, value, path: Tuple = ()):
        kind = type(value)
        if kind in _PLAIN_LEAVES or kind in _TENSORS:
            return value
        if isinstance(value, HistoryBuffer):
            log, count = value.data
            self._record(path, 'HistoryBuffer')
            return dict(log_history=_array_to_tensor(log, path),
                        count_history=_array_to_tensor(count, path),
                        max_length=int(value.max_length))
        if isinstance(value, np.ndarray):
            self._record(path, 'numpy.ndarray', dtype=value.dtype.str)
            return _array_to_tensor(value, path)
        if isinstance(value, np.generic):
            plain = value.item()
            if type(plain) not in _PLAIN_LEAVES:
                _refuse(path, f'is a numpy {value.dtype} scalar, which has '
                        'no plain python value')
            self._record(path, 'numpy.generic', dtype=value.dtype.str)
            return plain
        if isinstance(value, np.dtype):
            if value.fields is not None or value.kind in 'OV':
                _refuse(path, f'is the numpy dtype {value}, which has no '
                        'plain form')
            self._record(path, 'numpy.dtype')
            return value.str
        if kind in _DICTS or kind in _SEQUENCES:
            return self._container(value, path)
        _refuse(path, f'is a {kind.__module__}.{kind.__qualname__}')

    def _container(self, value, path):
        if id(value) in self._open:
            _refuse(path, 'contains itself')
        if len(path) > _MAX_DEPTH:
            _refuse(path, f'is nested deeper than {_MAX_DEPTH} levels')
        self._open.add(id(value))
        try:
            if isinstance(value, dict):
                items = []
                for key, item in value.items():
                    if type(key) not in _KEYS:
                        _refuse(path, f'has a key of type '
                                f'{type(key).__qualname__} ({key!r:.40}); '
                                'keys must be strings or numbers')
                    items.append((key, self(item, path + (key, ))))
                # attributes of an OrderedDict (a state dict's _metadata)
                # are pickled with it; they must be plain already
                attributes = vars(value) if type(value) is OrderedDict \
                    else {}
                for name, attr in attributes.items():
                    if _ToPlain()(attr, path + (name, )) is not attr:
                        _refuse(path, f'has the attribute {name!r}, which '
                                'holds more than plain data')
                if all(new is value[key] for key, new in items):
                    return value  # already plain: shared, not copied
                new = type(value)(dict(items))
                if attributes:
                    new.__dict__.update(attributes)
                return new
            items = [self(item, path + (i, )) for i, item in enumerate(value)]
            if all(new is old for new, old in zip(items, value)):
                return value
            return type(value)(items)
        finally:
            self._open.discard(id(value))


def to_plain(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``checkpoint`` as plain data (a new top-level dict).

    Containers that already hold plain data only (e.g. the model's state
    dict) are shared with ``checkpoint``, not copied; nothing in it is
    modified. Converting twice gives the same result.

    Args:
        checkpoint (dict): A checkpoint as ``Runner.save_checkpoint`` and
            the hooks build it.

    Returns:
        dict: The checkpoint with every value plain and, when something was
        converted, ``converted_types`` listing it.

    Raises:
        NotPlainDataError: An entry can not be made plain data; the message
            names its key path.
    """
    if not isinstance(checkpoint, dict):
        raise NotPlainDataError(
            f'A checkpoint must be a dict, got {type(checkpoint).__name__}.')
    convert = _ToPlain()
    plain = dict(convert(dict(checkpoint)))
    if convert.converted:
        plain[CONVERTED_TYPES_KEY] = list(
            plain.get(CONVERTED_TYPES_KEY, [])) + convert.converted
    return plain


# --------------------------------------------------------------------------
# back
# --------------------------------------------------------------------------
def _bad_table(message: str):
    raise ValueError(
        f"checkpoint['{CONVERTED_TYPES_KEY}'] {message}. It lists the "
        'entries stored as plain data and their original types; the file '
        'was changed after it was saved. Save it again from the training '
        'run, or remove the entry so the value is used as stored.')


def _as_array(value, path, dtype: str) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        _bad_table(f'lists {key_path(path)} as a numpy array, but it holds '
                   f'a {type(value).__name__}')
    return value.detach().cpu().numpy().astype(np.dtype(dtype), copy=True)


def _restore(value, record: dict, path):
    kind = record['type']
    if kind == 'HistoryBuffer':
        if not isinstance(value, dict) or set(value) != {
                'log_history', 'count_history', 'max_length'}:
            _bad_table(f'lists {key_path(path)} as a HistoryBuffer, but it '
                       'is not dict(log_history, count_history, '
                       'max_length)')
        log, count = (value[k].detach().cpu().numpy()
                      if isinstance(value[k], torch.Tensor) else value[k]
                      for k in ('log_history', 'count_history'))
        return HistoryBuffer(log, count, value['max_length'])
    if kind == 'numpy.ndarray':
        return _as_array(value, path, record['dtype'])
    if kind == 'numpy.generic':
        if type(value) not in _PLAIN_LEAVES:
            _bad_table(f'lists {key_path(path)} as a numpy scalar, but it '
                       f'holds a {type(value).__name__}')
        return np.dtype(record['dtype']).type(value)
    if type(value) is not str:
        _bad_table(f'lists {key_path(path)} as a numpy dtype, but it holds '
                   f'a {type(value).__name__}')
    return np.dtype(value)


def from_plain(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """Give back the objects :func:`to_plain` converted (a new dict).

    A checkpoint without ``converted_types`` (saved before checkpoints were
    plain data, or holding nothing to convert) is returned unchanged.

    Args:
        checkpoint (dict): A checkpoint as loaded from a file.

    Returns:
        dict: The checkpoint with its HistoryBuffers and numpy values back
        and without ``converted_types``.

    Raises:
        ValueError: ``converted_types`` does not describe the checkpoint.
    """
    table = checkpoint.get(CONVERTED_TYPES_KEY)
    if table is None:
        return checkpoint
    if not isinstance(table, list):
        _bad_table(f'is a {type(table).__name__}, not a list')
    records, prefixes = {}, set()
    for record in table:
        if not isinstance(record, dict) or not isinstance(
                record.get('path'), list) or record.get('type') not in _TYPES \
                or (record['type'] in ('numpy.ndarray', 'numpy.generic')
                    and type(record.get('dtype')) is not str):
            _bad_table(f'holds {record!r:.120}, not dict(path=[...], '
                       f'type=one of {_TYPES}[, dtype=str])')
        path = tuple(record['path'])
        records[path] = record
        prefixes.update(path[:i] for i in range(len(path)))
    found = set()

    def walk(value, path):
        if path in records:
            found.add(path)
            return _restore(value, records[path], path)
        if path not in prefixes:
            return value
        if isinstance(value, dict):
            new = type(value)((key, walk(item, path + (key, )))
                              for key, item in value.items())
            if type(value) is OrderedDict:
                new.__dict__.update(vars(value))
            return new
        if type(value) in _SEQUENCES:
            return type(value)(
                walk(item, path + (i, )) for i, item in enumerate(value))
        return value

    restored = {
        key: walk(value, (key, ))
        for key, value in checkpoint.items() if key != CONVERTED_TYPES_KEY
    }
    missing = sorted(map(key_path, set(records) - found))
    if missing:
        _bad_table(f'lists entries the checkpoint does not have: '
                   f'{", ".join(missing[:5])}')
    return restored
