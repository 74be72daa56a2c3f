"""Numpy values and MMEngine ``HistoryBuffer``s in checkpoints, both ways.

Read from another run's file, each of them (and the ``builtins.getattr``
MMEngine pickles buffers with) becomes an inert :class:`ForeignObject`, and
the loader drops the top-level parts holding one (:data:`FOREIGN_PARTS`).
Written by mmtec, :func:`to_plain` stores a ``HistoryBuffer`` as
``dict(log_history=tensor, count_history=tensor, max_length=int)``, a numpy
array as a tensor, a numpy scalar as a number and a numpy dtype as its
string, listing each under ``checkpoint['converted_types']`` as
``dict(path=[key, ...], type=...[, dtype=...])`` for :func:`from_plain`.
"""
import argparse
from collections import Counter, OrderedDict
from typing import Any, Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .errors import NotPlainDataError

CONVERTED_TYPES_KEY = 'converted_types'


class ForeignObject:
    """What a ``HistoryBuffer``, numpy value or ``getattr`` in another
    run's checkpoint becomes: nothing. It keeps none of its arguments or
    state and calls nothing."""
    __slots__ = ()

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


#: Allowed on top of torch's weights-only defaults: the ``args`` that MAE,
#: TEC, DINO, iBOT and timm save, and the inert stand-in for what MMEngine's
#: Runner writes (numpy moved its reconstructors to ``numpy._core`` in 2.0).
FIELD_GLOBALS = [argparse.Namespace] + [
    (ForeignObject, name) for name in (
        'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy.dtype', 'numpy.ndarray', 'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar', 'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar')
]
#: where MMEngine's Runner writes the objects that are not plain data
FOREIGN_PARTS = {'message_hub', 'meta'}

# what torch's weights-only unpickler reads without any allow-listing
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_LEAVES = _SCALARS + (torch.Size, torch.dtype, torch.device, torch.Tensor,
                      torch.nn.Parameter)
_DICTS = (dict, OrderedDict, Counter)  # Counter: MultiStepLR's milestones
_KEYS = (str, int, float, bool, type(None))
_HOLDERS = {'HistoryBuffer': dict, 'numpy.ndarray': torch.Tensor,
            'numpy.generic': _SCALARS, 'numpy.dtype': str}
_MAX_DEPTH = 100


def key_path(path) -> str:
    """``['meta', 0]`` -> ``checkpoint['meta'][0]``."""
    return 'checkpoint' + ''.join(f'[{key!r}]' for key in path)


def _refuse(path, message: str):
    raise NotPlainDataError(
        f'{key_path(path)} {message}: it cannot be saved as plain data. A '
        'checkpoint may only hold tensors, numbers, strings, lists, tuples '
        "and dicts (numpy values and MMEngine's HistoryBuffer are converted "
        'to those): convert it in the code that puts it into the checkpoint '
        'or the message hub, or leave it out.')


def _tensor(array: np.ndarray, path) -> torch.Tensor:
    if array.dtype.kind not in 'biufc' or array.dtype.fields is not None:
        _refuse(path, f'is a numpy array of dtype {array.dtype}, which has '
                'no tensor dtype')
    # a copy in native byte order: no memory shared with the live array
    return torch.from_numpy(
        np.array(array, dtype=array.dtype.newbyteorder('='), order='C'))


def _rebuild(value, path: tuple, convert):
    """``value`` with ``convert(item, its path)`` applied to each item of a
    dict, list or tuple, or ``value`` itself when no item changes (shared,
    not copied); an ``OrderedDict`` keeps its attributes (``_metadata``)."""
    if isinstance(value, dict):
        items = {key: convert(item, path + (key, ))
                 for key, item in value.items()}
        if all(items[key] is value[key] for key in value):
            return value
        new = type(value)(items)
        if type(value) is OrderedDict:
            new.__dict__.update(vars(value))
        return new
    if type(value) in (list, tuple):
        items = [convert(item, path + (i, )) for i, item in enumerate(value)]
        same = all(new is old for new, old in zip(items, value))
        return value if same else type(value)(items)
    return value


def _to_plain(value, path: tuple, converted: list, around: tuple = ()):
    """``value`` as plain data, each conversion appended to ``converted``;
    ``around``: the ids of the containers that hold ``value``."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind in _DICTS or kind in (list, tuple):
        if id(value) in around:
            _refuse(path, 'contains itself')
        if len(path) > _MAX_DEPTH:
            _refuse(path, f'is nested deeper than {_MAX_DEPTH} levels')
        for key in value if kind in _DICTS else ():
            if type(key) not in _KEYS:
                _refuse(path, f'has a key of type {type(key).__qualname__} '
                        f'({key!r:.40}); keys must be strings or numbers')
        # an OrderedDict's attributes (a state dict's _metadata) are
        # pickled with it: they must be plain already
        for name, attr in (vars(value) if kind is OrderedDict else {}).items():
            if _to_plain(attr, path + (name, ), []) is not attr:
                _refuse(path, f'has the attribute {name!r}, which holds '
                        'more than plain data')
        return _rebuild(value, path, lambda item, where: _to_plain(
            item, where, converted, around + (id(value), )))
    record = dict(path=list(path))
    if isinstance(value, HistoryBuffer):
        (log, count), record['type'] = value.data, 'HistoryBuffer'
        value = dict(log_history=_tensor(log, path),
                     count_history=_tensor(count, path),
                     max_length=int(value.max_length))
    elif isinstance(value, np.ndarray):
        record.update(type='numpy.ndarray', dtype=value.dtype.str)
        value = _tensor(value, path)
    elif isinstance(value, np.generic) and type(value.item()) in _SCALARS:
        record.update(type='numpy.generic', dtype=value.dtype.str)
        value = value.item()
    elif isinstance(value, np.dtype) and value.fields is None and \
            value.kind not in 'OV':
        record['type'], value = 'numpy.dtype', value.str
    else:
        _refuse(path, f'is a numpy {value.dtype} scalar' if isinstance(
            value, np.generic) else f'is a {kind.__module__}.'
                f'{kind.__qualname__}')
    converted.append(record)
    return value


def to_plain(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """``checkpoint`` as plain data, in a new top-level dict listing what
    was converted under ``converted_types``. Containers already plain (the
    state dict) are shared, not copied; converting twice changes nothing.

    Args:
        checkpoint (dict): A checkpoint as ``Runner.save_checkpoint`` and
            the hooks build it (not modified).

    Raises:
        NotPlainDataError: An entry cannot be made plain data; the message
            names its key path.
    """
    if not isinstance(checkpoint, dict):
        raise NotPlainDataError(
            f'A checkpoint must be a dict, got {type(checkpoint).__name__}.')
    converted = []
    plain = _to_plain(dict(checkpoint), (), converted)
    if converted:
        plain[CONVERTED_TYPES_KEY] = list(
            plain.get(CONVERTED_TYPES_KEY, [])) + converted
    return plain


def _bad_table(message: str):
    raise ValueError(
        f"checkpoint['{CONVERTED_TYPES_KEY}'] {message}. It lists the "
        'entries stored as plain data and their original types; the file '
        'was changed after it was saved. Save it again from the training '
        'run, or remove the entry so the value is used as stored.')


def _array(value):
    return value.detach().cpu().numpy() if isinstance(
        value, torch.Tensor) else value


def _restore(value, record: dict, path: tuple):
    kind = record['type']
    if not isinstance(value, _HOLDERS[kind]) or kind == 'HistoryBuffer' and \
            set(value) != {'log_history', 'count_history', 'max_length'}:
        _bad_table(f'lists {key_path(path)} as a {kind}, but it holds '
                   f'{type(value).__name__} {value!r:.60}')
    if kind == 'HistoryBuffer':
        return HistoryBuffer(_array(value['log_history']),
                             _array(value['count_history']),
                             value['max_length'])
    if kind == 'numpy.ndarray':
        return _array(value).astype(record['dtype'])
    if kind == 'numpy.generic':
        return np.dtype(record['dtype']).type(value)
    return np.dtype(value)


def _is_record(record) -> bool:
    return isinstance(record, dict) and isinstance(
        record.get('path'), list) and record.get('type') in list(_HOLDERS) \
        and (type(record.get('dtype')) is str
             or record['type'] in ('HistoryBuffer', 'numpy.dtype'))


def from_plain(checkpoint: Dict[str, Any]) -> Dict[str, Any]:
    """The checkpoint with the objects :func:`to_plain` converted back, in
    a new dict without ``converted_types`` (a checkpoint without it is
    returned as it is).

    Args:
        checkpoint (dict): A checkpoint as loaded from a file.

    Raises:
        ValueError: ``converted_types`` does not describe the checkpoint.
    """
    table = checkpoint.get(CONVERTED_TYPES_KEY)
    if table is None:
        return checkpoint
    if not isinstance(table, list) or not all(map(_is_record, table)):
        _bad_table(f'is {table!r:.120}, not a list of dict(path=[...], '
                   f'type=one of {tuple(_HOLDERS)}[, dtype=str])')
    records = {tuple(record['path']): record for record in table}
    prefixes = {path[:i] for path in records for i in range(len(path))}
    found = set()

    def walk(value, path):
        if path in records:
            found.add(path)
            return _restore(value, records[path], path)
        return _rebuild(value, path, walk) if path in prefixes else value

    restored = {key: walk(value, (key, ))
                for key, value in checkpoint.items()
                if key != CONVERTED_TYPES_KEY}
    missing = sorted(map(key_path, set(records) - found))
    if missing:
        _bad_table('lists entries the checkpoint does not have: '
                   f'{", ".join(missing[:5])}')
    return restored
