"""The only non-tensor objects a checkpoint may hold, rebuilt from data.

Checkpoints are read with torch's weights-only unpickler, which calls
nothing but allow-listed globals. MMEngine training checkpoints need a few
more than torch allows: the message hub's ``HistoryBuffer`` (which pickles
its statistics methods as ``getattr(HistoryBuffer, 'mean')``) and numpy
arrays, scalars and dtypes (``meta``, RNG states). Allow-listing those
globals themselves would hand a crafted file ``getattr``, i.e. every
attribute of every reachable object, and from there ``exec``.

Instead, each global name MMEngine pickles is mapped to a narrow stand-in
of this module that accepts plain data only and checks it:

* ``builtins.getattr`` -> :func:`history_buffer_statistic`: only
  ``(HistoryBuffer, name)`` with ``name`` one of MMEngine's four statistics,
  and it returns a name token, not a function;
* ``HistoryBuffer`` -> :class:`PendingHistoryBuffer`, whose ``__setstate__``
  accepts only MMEngine's state keys with numeric arrays and ints;
* ``numpy.dtype`` / ``_reconstruct`` / ``scalar`` / ``ndarray`` ->
  :func:`numpy_dtype`, :func:`numpy_reconstruct`, :func:`numpy_scalar`,
  :class:`NdarrayName`: numeric and fixed-size string dtypes only (never
  ``object``), shapes that match the bytes given.

Stand-ins that are not finished values (arrays, dtypes, buffers waiting for
their state) are replaced by the real objects in :func:`finalize`, which
also refuses anything left over that is not plain data.
"""
import math
import re
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


class RefusedByAllowList(Exception):
    """The file asks for something outside what this module rebuilds.

    Deliberately not a ``pickle.UnpicklingError``: torch rewraps those and
    drops the reason.
    """


def _refuse(what: str):
    raise RefusedByAllowList(what)


def _plain_int(value, what: str, low: int = 0, high: int = None) -> int:
    if type(value) is not int or value < low or (high is not None
                                                 and value > high):
        _refuse(f'{what} must be an int in [{low}, {high}], got '
                f'{type(value).__name__} {value!r:.40}')
    return value


# --------------------------------------------------------------------------
# numpy
# --------------------------------------------------------------------------
# numeric and fixed-size string kinds; never 'O' (object) or 'V' (void)
_DTYPE_KINDS = 'biufcUS'
_DTYPE_SPEC = re.compile(r'^(\?|[biufcUS]\d{1,4}|b1)$')
_BYTE_ORDERS = ('<', '>', '|', '=')


class PendingDType:
    """A numpy dtype named by a pickle, complete once its state is set."""

    __slots__ = ('spec', 'dtype')

    def __init__(self, spec: str = None):
        if type(spec) is not str or not _DTYPE_SPEC.match(spec) or \
                np.dtype(spec).kind not in _DTYPE_KINDS or \
                np.dtype(spec).itemsize == 0:
            _refuse(f'numpy dtype {spec!r:.40}: only numeric and fixed-size '
                    'string dtypes are accepted')
        self.spec = spec
        self.dtype = None

    def __setstate__(self, state):
        # numpy's dtype state: (version, byteorder, subdescr, names, fields,
        # elsize, alignment, flags[, metadata])
        if self.dtype is not None:
            _refuse('dtype state set twice')
        if type(state) is not tuple or len(state) not in (8, 9):
            _refuse(f'dtype state must be a tuple of 8 or 9, got {state!r:.80}')
        version, order, subdescr, names, fields, elsize, align, flags = \
            state[:8]
        if version not in (3, 4) or order not in _BYTE_ORDERS:
            _refuse(f'unsupported dtype state {state!r:.80}')
        if subdescr is not None or names is not None or fields is not None:
            _refuse('structured or sub-array dtypes are not accepted')
        if len(state) == 9 and state[8] is not None:
            _refuse('dtype metadata is not accepted')
        for value in (elsize, align, flags):
            _plain_int(value, 'dtype size/alignment/flags', -1, 1 << 20)
        dtype = np.dtype(self.spec)
        if order in '<>':
            dtype = dtype.newbyteorder(order)
        if elsize != -1 and elsize != dtype.itemsize:
            _refuse(f'dtype {self.spec} with item size {elsize}')
        self.dtype = dtype


def numpy_dtype(spec, align=False, copy=True) -> PendingDType:
    """Stand-in for ``numpy.dtype(spec, align, copy)``."""
    if type(align) is not bool or type(copy) is not bool:
        _refuse(f'numpy.dtype{(spec, align, copy)!r:.80}')
    return PendingDType(spec)


def _finished_dtype(dtype) -> np.dtype:
    if type(dtype) is not PendingDType or dtype.dtype is None:
        _refuse(f'expected a numpy dtype, got {type(dtype).__name__}')
    return dtype.dtype


class NdarrayName:
    """Stands for the global ``numpy.ndarray``; it cannot be instantiated."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        _refuse('numpy.ndarray(...) called directly')


class PendingArray:
    """A numpy array named by ``_reconstruct``, complete once its state is
    set."""

    __slots__ = ('array', )

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        # numpy's ndarray state: (version, shape, dtype, is_fortran, rawdata)
        if self.array is not None:
            _refuse('array state set twice')
        if type(state) is not tuple or len(state) != 5:
            _refuse(f'array state must be a tuple of 5, got '
                    f'{type(state).__name__}')
        version, shape, dtype, fortran, raw = state
        _plain_int(version, 'array state version', 1, 1)
        if type(shape) is not tuple or len(shape) > 32:
            _refuse(f'array shape must be a tuple of <= 32 ints, got '
                    f'{shape!r:.80}')
        for dim in shape:
            _plain_int(dim, 'array dimension', 0, 1 << 62)
        dtype = _finished_dtype(dtype)
        if type(fortran) is not bool or type(raw) is not bytes:
            _refuse('array state must hold a bool order and raw bytes '
                    '(object arrays are not accepted)')
        # python ints: no overflow, however large the shape claims to be
        if math.prod(shape) * dtype.itemsize != len(raw):
            _refuse(f'array of shape {shape} and dtype {dtype} does not '
                    f'match its {len(raw)} bytes')
        flat = np.frombuffer(raw, dtype=dtype)
        self.array = flat.reshape(
            shape, order='F' if fortran else 'C').copy(order='K')


def numpy_reconstruct(cls, shape, typecode) -> PendingArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct``.

    numpy always pickles ``_reconstruct(ndarray, (0,), b'b')`` followed by
    the array's state; nothing else is accepted.
    """
    if cls is not NdarrayName or shape != (0, ) or typecode != b'b' or \
            type(shape) is not tuple or type(shape[0]) is not int:
        _refuse(f'numpy _reconstruct called with '
                f'{getattr(cls, "__name__", cls)!r:.40}, {shape!r:.40}, '
                f'{typecode!r:.20}; numpy pickles (ndarray, (0,), b"b")')
    return PendingArray()


def numpy_scalar(dtype, data=None):
    """Stand-in for ``numpy.core.multiarray.scalar``: a number from bytes."""
    dtype = _finished_dtype(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        _refuse(f'numpy scalar of dtype {dtype} needs exactly '
                f'{dtype.itemsize} bytes')
    return np.frombuffer(data, dtype=dtype)[0]


# --------------------------------------------------------------------------
# MMEngine HistoryBuffer
# --------------------------------------------------------------------------
STATISTICS = ('min', 'max', 'current', 'mean')


class StatisticName:
    """What ``getattr(HistoryBuffer, name)`` becomes: just the name."""

    __slots__ = ('name', )

    def __init__(self, name: str):
        self.name = name

    def __setstate__(self, state):
        _refuse('a statistics method has no state')


class PendingHistoryBuffer:
    """Stands for ``HistoryBuffer``; becomes one once its state is checked.
    """

    __slots__ = ('buffer', )

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            _refuse('HistoryBuffer(...) called with arguments; MMEngine '
                    'pickles it without')
        self = object.__new__(cls)
        self.buffer = None
        return self

    def __setstate__(self, state):
        if self.buffer is not None:
            _refuse('HistoryBuffer state set twice')
        if type(state) is not dict:
            _refuse('HistoryBuffer state must be a dict')
        allowed = {'max_length', '_log_history', '_count_history',
                   'statistics_methods'}
        if set(state) - allowed or not {'max_length', '_log_history',
                                        '_count_history'} <= set(state):
            _refuse(f'HistoryBuffer state keys {sorted(map(str, state))}')
        max_length = _plain_int(state['max_length'],
                                'HistoryBuffer.max_length', 1, 1 << 40)
        histories = []
        for key in ('_log_history', '_count_history'):
            value = state[key]
            if type(value) is not PendingArray or value.array is None:
                _refuse(f'HistoryBuffer.{key} must be a numpy array')
            if value.array.ndim != 1 or value.array.dtype.kind not in 'biuf':
                _refuse(f'HistoryBuffer.{key} must be a 1-d numeric array')
            histories.append(value.array)
        if len(histories[0]) != len(histories[1]) or \
                len(histories[0]) > max_length:
            _refuse('HistoryBuffer histories of unequal or excessive length')
        methods = state.get('statistics_methods', {})
        if type(methods) is not dict or any(
                type(v) is not StatisticName or v.name != k
                for k, v in methods.items()):
            _refuse('HistoryBuffer.statistics_methods may only name '
                    f'{STATISTICS}')
        # built through the public constructor: no state is copied blindly
        self.buffer = HistoryBuffer(histories[0], histories[1], max_length)


def history_buffer_statistic(owner, name) -> StatisticName:
    """Stand-in for ``getattr``: only ``getattr(HistoryBuffer, statistic)``.
    """
    if owner is not PendingHistoryBuffer or type(name) is not str or \
            name not in STATISTICS:
        owner = 'HistoryBuffer' if owner is PendingHistoryBuffer else \
            type(owner).__name__
        _refuse(f'it calls getattr({owner}, {name!r:.40}); getattr is only '
                f'accepted for the HistoryBuffer statistics {STATISTICS}')
    return StatisticName(name)


def _names(*modules: str, name: str) -> List[str]:
    return [f'{m}.{name}' for m in modules]


_MULTIARRAY = ('numpy.core.multiarray', 'numpy._core.multiarray')


def allowed_globals() -> List[Tuple[Any, str]]:
    """``(stand-in, pickled global name)`` pairs for torch's unpickler.

    Nothing else is added to torch's own weights-only allow-list.
    """
    pairs = [(history_buffer_statistic, 'builtins.getattr'),
             (PendingHistoryBuffer,
              'mmengine.logging.history_buffer.HistoryBuffer'),
             (NdarrayName, 'numpy.ndarray'), (numpy_dtype, 'numpy.dtype')]
    pairs += [(numpy_reconstruct, n)
              for n in _names(*_MULTIARRAY, name='_reconstruct')]
    pairs += [(numpy_scalar, n) for n in _names(*_MULTIARRAY, name='scalar')]
    # the stand-ins the above return must be allowed as BUILD targets; the
    # names are ours, no real pickle refers to them
    pairs += [(cls, f'{__name__}.{cls.__name__}')
              for cls in (PendingArray, PendingDType)]
    return pairs


# --------------------------------------------------------------------------
# after unpickling
# --------------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray,
            torch.Tensor, torch.Size, torch.device, torch.dtype,
            torch.layout, torch.memory_format, torch.storage.TypedStorage,
            torch.UntypedStorage, np.generic)
_MAX_DEPTH = 200


def finalize(obj: Any) -> Any:
    """Replace the stand-ins by real values; refuse anything but data.

    The loaded object may only consist of containers (dict, OrderedDict,
    Counter, list, tuple, set), scalars, strings, tensors, numpy values and
    HistoryBuffers.
    """
    done: Dict[int, Any] = {}

    def walk(value, depth):
        if depth > _MAX_DEPTH:
            _refuse(f'nesting deeper than {_MAX_DEPTH}')
        key = id(value)
        if key in done:
            return done[key]
        kind = type(value)
        if isinstance(value, _SCALARS):
            return value
        if kind is PendingArray:
            if value.array is None:
                _refuse('a numpy array without its state')
            out = value.array
        elif kind is PendingDType:
            out = _finished_dtype(value)
        elif kind is PendingHistoryBuffer:
            if value.buffer is None:
                _refuse('a HistoryBuffer without its state')
            out = value.buffer
        elif kind in (dict, OrderedDict, Counter):
            done[key] = value  # cycles come back to the same container
            items = [(walk(k, depth + 1), walk(v, depth + 1))
                     for k, v in value.items()]
            value.clear()
            value.update(items)
            out = value
        elif kind is list:
            done[key] = value
            value[:] = [walk(v, depth + 1) for v in value]
            out = value
        elif kind in (tuple, set, frozenset):
            out = kind(walk(v, depth + 1) for v in value)
        else:
            name = getattr(value, '__qualname__', None) or kind.__qualname__
            _refuse(f'{name} ({kind.__module__}.{kind.__qualname__}) where '
                    'only data is expected')
        done[key] = out
        return out

    return walk(obj, 0)
