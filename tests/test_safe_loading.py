"""The checkpoint loader: hostile pickles refused, training checkpoints of
other MMEngine runs read for their weights, one clear error per failure
kind, safetensors, the trust opt-in."""
import io
import logging
import os
import random
import re
import tokenize
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

import mmtec  # noqa: F401  (registers the loader with MMEngine)
from hostile_pickles import (
    APPEND,
    BUILD,
    EMPTY_LIST,
    FALSE,
    GETATTR,
    HISTORY_BUFFER,
    NEWOBJ,
    NONE,
    NP_DTYPE,
    NP_NDARRAY,
    NP_RECONSTRUCT,
    NP_SCALAR,
    REBUILD_FROM_TYPE,
    TRUE,
    DictWithState,
    call,
    dict_of,
    dtype,
    exec_via_getattr,
    glob,
    i,
    marker_code,
    ndarray,
    pickle_of,
    raw_bytes,
    s,
    splice,
    tup,
)
from mmtec.checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    EmptyCheckpointError,
    NotACheckpointError,
    UnsafeCheckpointError,
    safe_load,
    trust_checkpoint,
)
from mmtec.checkpoint import trust as trust_module
from mmtec.converters import read_vit
from mmtec.engine.hooks.exact_resume_hook import ExactResumeHook
from paths import ROOT

OLD_HINT = 're-save its tensors only'


# --------------------------------------------------------------------------
# a training checkpoint as MMEngine + mmtec save it
# --------------------------------------------------------------------------
def training_checkpoint() -> dict:
    """What MMEngine's Runner.save_checkpoint writes, with mmtec's
    ExactResumeHook states in meta."""
    model = torch.nn.Linear(3, 2)
    optim = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optim.step()
    hub = MessageHub.get_instance('loader_test')
    for value in (1.5, 2.5, 4.0):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', 7)
    hub.update_info('seed', np.int64(5))
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    return dict(
        meta=dict(epoch=1, iter=7, seed=np.int64(5), lr=np.float64(0.1),
                  dataset_meta=dict(classes=('a', 'b')),
                  hist=np.arange(6, dtype=np.float32).reshape(2, 3),
                  fortran=np.asfortranarray(np.arange(6).reshape(2, 3)),
                  flags=np.array([True, False]), name=np.str_('abc'),
                  kind=np.dtype('>i2'),
                  rng_states=[ExactResumeHook._capture()]),
        state_dict=model.state_dict(),
        message_hub=hub.state_dict(),
        optimizer=optim.state_dict(),
        param_schedulers=[dict(base_values=[0.1], last_step=7,
                               by_epoch=False)])


@pytest.fixture
def real_ckpt(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(training_checkpoint(), path)
    return str(path)


def test_foreign_training_checkpoint_gives_its_weights(real_ckpt,
                                                      log_records):
    """MMEngine's HistoryBuffers and numpy values are not rebuilt: the parts
    holding them are dropped, the weights and optimizer state are read."""
    expected = torch.load(real_ckpt, weights_only=False)
    loaded = safe_load(real_ckpt)
    assert set(loaded) == {'state_dict', 'optimizer', 'param_schedulers'}
    for key, value in expected['state_dict'].items():
        assert torch.equal(loaded['state_dict'][key], value)
    assert torch.equal(loaded['optimizer']['state'][0]['exp_avg'],
                       expected['optimizer']['state'][0]['exp_avg'])
    notes = [r.getMessage() for r in log_records if real_ckpt in
             r.getMessage()]
    assert len(notes) == 1 and 'skipped its message_hub, meta' in notes[0]


def test_foreign_objects_outside_mmengine_parts_are_refused(tmp_path,
                                                            real_ckpt):
    """A HistoryBuffer where MMEngine never writes one is refused."""
    evil = tmp_path / 'evil.pth'
    splice(real_ckpt, evil, 'state_dict_ema', _hb(_good_hb_state()))
    with pytest.raises(UnsafeCheckpointError, match='state_dict_ema'):
        safe_load(str(evil))


# --------------------------------------------------------------------------
# the exploit of the previous allow-list, and every other combination
# --------------------------------------------------------------------------
def test_getattr_exploit_runs_no_code(tmp_path, real_ckpt):
    """Only getattr + HistoryBuffer + torch's allow-list reach exec: the
    loader allowed exactly these globals before. The payload sits in a file
    of tensors only, so nothing else in it fails first: the unpickler's
    answer to ``builtins.getattr`` alone keeps the code from running."""
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': torch.nn.Linear(3, 2).state_dict()}, weights)
    splice(str(weights), evil, 'extra',
           exec_via_getattr(marker_code(str(marker))))
    for load in (safe_load, CheckpointLoader.load_checkpoint, read_vit):
        with pytest.raises(RuntimeError) as err:
            load(str(evil))
        assert not marker.exists(), f'{load.__name__} ran code'
        assert isinstance(err.value, UnsafeCheckpointError)
        msg = str(err.value)
        assert str(evil) in msg and 'malicious' in msg
        assert 'MMTEC_TRUST_CHECKPOINTS' in msg
    # also where MMEngine writes its objects
    splice(real_ckpt, evil, 'message_hub', exec_via_getattr(
        marker_code(str(marker))))
    with pytest.raises(UnsafeCheckpointError):
        safe_load(str(evil))
    assert not marker.exists()


def _expanded():
    return torch.zeros(1).expand(10**6, 10**6)  # 4 bytes claim 4 TB


@pytest.mark.parametrize('cls,state', [
    (OrderedDict, dict(items=set)),  # items() of a set: nothing to check
    (OrderedDict, dict(items=5)),  # items() would be a TypeError
    (Counter, dict(keys=set, values=set)),
])
def test_dict_attribute_hiding_its_items_is_refused(tmp_path, cls, state):
    """The unpickler's BUILD sets attributes of an OrderedDict or Counter;
    one named like a method would hide the items (here a tensor that the
    check refuses) from the check and from every later reader."""
    path = tmp_path / 'hiding.pth'
    torch.save({'state_dict': DictWithState(cls, {'w': _expanded()}, state)},
               path)
    with pytest.raises(UnsafeCheckpointError) as err:
        safe_load(str(path))
    message = str(err.value)
    assert f'"{path}"' in message and '\n' not in message
    assert f'sets the attribute "{sorted(state)[0]}" on its {cls.__name__}' \
        in message


def test_dict_attributes_are_checked_too(tmp_path):
    """nn.Module state dicts carry ``_metadata``: loaded, and checked."""
    path = tmp_path / 'metadata.pth'
    torch.save({'state_dict': torch.nn.Linear(2, 1).state_dict()}, path)
    loaded = safe_load(str(path))['state_dict']
    assert loaded._metadata == {'': {'version': 1}}
    torch.save({'state_dict': DictWithState(OrderedDict, {
        'w': torch.ones(2)}, dict(_metadata={'': _expanded()}))}, path)
    with pytest.raises(UnsafeCheckpointError, match='claims more elements'):
        safe_load(str(path))


def _hb(state: bytes) -> bytes:
    """A HistoryBuffer built the way MMEngine pickles it, with ``state``."""
    return HISTORY_BUFFER + tup() + NEWOBJ + state + BUILD


def _f8(values):
    return ndarray((len(values), ), dtype('f8'),
                   np.asarray(values, '<f8').tobytes())


def _good_hb_state(**override) -> bytes:
    items = dict(max_length=i(10), _log_history=_f8([1.0]),
                 _count_history=_f8([1.0]))
    items.update(override)
    return dict_of(**items)


def _payload(marker) -> bytes:
    return exec_via_getattr(marker_code(str(marker)))


def _pending_global(name):
    return glob('mmtec.checkpoint.allow_list', name)


HOSTILE = {
    # plain code-running globals
    'os.system': lambda m: call(glob('os', 'system'), s(f'touch {m}')),
    'builtins.exec': lambda m: call(glob('builtins', 'exec'),
                                    s(marker_code(str(m)))),
    'builtins.eval': lambda m: call(glob('builtins', 'eval'),
                                    s(marker_code(str(m)))),
    'builtins.__import__': lambda m: call(glob('builtins', '__import__'),
                                          s('os')),
    'builtins.setattr': lambda m: call(glob('builtins', 'setattr'), NONE,
                                       s('x'), NONE),
    'subprocess.Popen': lambda m: call(glob('subprocess', 'Popen'),
                                       s(f'touch {m}')),
    # getattr: attribute chains and every allowed owner
    'getattr chain to exec': _payload,
    'getattr(HistoryBuffer, __init__)': lambda m: call(
        GETATTR, HISTORY_BUFFER, s('__init__')),
    'getattr(HistoryBuffer, __class__)': lambda m: call(
        GETATTR, HISTORY_BUFFER, s('__class__')),
    'getattr(HistoryBuffer, register_statistics)': lambda m: call(
        GETATTR, HISTORY_BUFFER, s('register_statistics')),
    'getattr(getattr, __self__)': lambda m: call(GETATTR, GETATTR,
                                                 s('__self__')),
    'getattr(ndarray, tofile)': lambda m: call(GETATTR, NP_NDARRAY,
                                               s('tofile')),
    'getattr(buffer instance, mean)': lambda m: call(
        GETATTR, _hb(_good_hb_state()), s('mean')),
    'getattr(None, __class__)': lambda m: call(GETATTR, NONE,
                                               s('__class__')),
    'getattr(statistic, name)': lambda m: call(
        GETATTR, call(GETATTR, HISTORY_BUFFER, s('mean')), s('__init__')),
    # a genuine statistic token used as a callable
    'statistic token called': lambda m: call(
        REBUILD_FROM_TYPE, call(GETATTR, HISTORY_BUFFER, s('mean')),
        HISTORY_BUFFER, tup(s(marker_code(str(m)))), NONE),
    # BUILD / __setstate__ on HistoryBuffer with hostile state
    'HistoryBuffer methods -> exec': lambda m: _hb(_good_hb_state(
        statistics_methods=dict_of(mean=_payload(m)))),
    'HistoryBuffer methods -> renamed statistic': lambda m: _hb(
        _good_hb_state(statistics_methods=dict_of(
            evil=call(GETATTR, HISTORY_BUFFER, s('mean'))))),
    'HistoryBuffer class-level _statistics_methods': lambda m: _hb(
        _good_hb_state(_statistics_methods=dict_of(mean=NONE))),
    'HistoryBuffer __class__ in state': lambda m: _hb(_good_hb_state(
        __class__=HISTORY_BUFFER)),
    'HistoryBuffer list history': lambda m: _hb(_good_hb_state(
        _log_history=EMPTY_LIST + s(marker_code(str(m))) + APPEND)),
    'HistoryBuffer bool max_length': lambda m: _hb(_good_hb_state(
        max_length=TRUE)),
    'HistoryBuffer tuple state (slots)': lambda m: _hb(tup(
        _good_hb_state(), dict_of(max_length=i(1)))),
    'HistoryBuffer state twice': lambda m: _hb(_good_hb_state()) +
    _good_hb_state() + BUILD,
    'HistoryBuffer NEWOBJ args': lambda m: HISTORY_BUFFER + tup(
        s(marker_code(str(m)))) + NEWOBJ,
    'HistoryBuffer REDUCE args': lambda m: call(HISTORY_BUFFER, _f8([1.0]),
                                                _f8([1.0]), i(5)),
    'HistoryBuffer without state': lambda m: HISTORY_BUFFER + tup() + NEWOBJ,
    # REDUCE on allowed callables with hostile arguments
    'rebuild_from_type(HistoryBuffer, setstate)': lambda m: call(
        REBUILD_FROM_TYPE, HISTORY_BUFFER, HISTORY_BUFFER, tup(),
        dict_of(max_length=i(1), _log_history=NONE, _count_history=NONE)),
    'rebuild_from_type(dtype)': lambda m: call(
        REBUILD_FROM_TYPE, NP_DTYPE, NP_DTYPE, tup(s('O'), FALSE, TRUE),
        NONE),
    'rebuild_from_type(_reconstruct) setattr': lambda m: call(
        REBUILD_FROM_TYPE, NP_RECONSTRUCT,
        _pending_global('PendingArray'), tup(NP_NDARRAY, tup(i(0)),
                                             raw_bytes(b'b')),
        dict_of(array=NONE)),
    'pending dtype via its own name': lambda m: call(
        _pending_global('PendingDType'), s('O')) + tup(
            i(3), s('|'), NONE, NONE, NONE, i(-1), i(-1), i(63)) + BUILD,
    'pending array left empty': lambda m: call(
        _pending_global('PendingArray')),
    'stand-in function as data': lambda m: dict_of(f=NP_SCALAR),
    'stand-in class as data': lambda m: dict_of(c=HISTORY_BUFFER),
    'torch class as data': lambda m: dict_of(c=glob('collections',
                                                    'OrderedDict')),
    'torch function as data': lambda m: REBUILD_FROM_TYPE,
    'ndarray() called': lambda m: call(NP_NDARRAY, tup(i(3))),
    # numpy reconstructors with hostile arguments
    'object dtype': lambda m: dtype('O'),
    'object dtype (|O8)': lambda m: dtype('O8'),
    'void dtype': lambda m: dtype('V8'),
    'structured dtype state': lambda m: dtype('f8', tup(
        i(3), s('<'), NONE, tup(s('a')), dict_of(a=NONE), i(8), i(8),
        i(0))),
    'dtype state with metadata': lambda m: dtype('f8', tup(
        i(4), s('<'), NONE, NONE, NONE, i(-1), i(-1), i(0),
        dict_of(x=NONE))),
    'dtype bad byte order': lambda m: dtype('f8', tup(
        i(3), s('!'), NONE, NONE, NONE, i(-1), i(-1), i(0))),
    'dtype lying item size': lambda m: dtype('U2', tup(
        i(3), s('<'), NONE, NONE, NONE, i(4096), i(4), i(8))),
    'dtype spec code': lambda m: call(NP_DTYPE, s('f8,exec'), FALSE, TRUE),
    'object array with code in its list': lambda m: ndarray(
        (1, ), dtype('O'), b'', state=tup(
            i(1), tup(i(1)), dtype('O'), FALSE,
            EMPTY_LIST + _payload(m) + APPEND)),
    'huge shape': lambda m: ndarray((2**40, 2**40), dtype('f8'), b'\0' * 8),
    'negative shape': lambda m: ndarray((-1, ), dtype('f8'), b''),
    'shape/bytes mismatch': lambda m: ndarray((4, ), dtype('f8'), b'\0' * 8),
    'too many dims': lambda m: ndarray((1, ) * 40, dtype('f8'), b'\0' * 8),
    '_reconstruct huge': lambda m: call(NP_RECONSTRUCT, NP_NDARRAY,
                                        tup(i(2**40)), raw_bytes(b'b')),
    '_reconstruct other class': lambda m: call(
        NP_RECONSTRUCT, HISTORY_BUFFER, tup(i(0)), raw_bytes(b'b')),
    'array state not raw bytes': lambda m: ndarray(
        (1, ), dtype('f8'), b'', state=tup(i(1), tup(i(1)), dtype('f8'),
                                           FALSE, s('\0' * 8))),
    'array state dtype not a dtype': lambda m: ndarray(
        (1, ), dtype('f8'), b'', state=tup(i(1), tup(i(1)), s('f8'),
                                           FALSE, raw_bytes(b'\0' * 8))),
    'scalar object dtype': lambda m: call(NP_SCALAR, dtype('O'), NONE),
    'scalar wrong size': lambda m: call(NP_SCALAR, dtype('f8'),
                                        raw_bytes(b'\0' * 3)),
    'scalar of unfinished dtype': lambda m: call(
        NP_SCALAR, call(NP_DTYPE, s('f8'), FALSE, TRUE),
        raw_bytes(b'\0' * 8)),
    # nesting beyond reason
    'deep nesting': lambda m: EMPTY_LIST * 401 + APPEND * 400,
}


@pytest.mark.parametrize('name', sorted(HOSTILE))
def test_hostile_pickle_is_refused_without_side_effect(tmp_path, real_ckpt,
                                                       name):
    marker = tmp_path / 'pwned'
    value = HOSTILE[name](marker)
    evil = tmp_path / 'evil.pth'
    splice(real_ckpt, evil, 'extra', value)
    with pytest.raises(CheckpointError) as err:
        safe_load(str(evil))
    assert str(evil) in str(err.value)
    assert not marker.exists()
    # the same value as a bare (legacy-format) pickle
    bare = tmp_path / 'bare.pkl'
    bare.write_bytes(pickle_of(value))
    with pytest.raises(CheckpointError):
        safe_load(str(bare))
    assert not marker.exists()


@pytest.mark.parametrize('name', [
    'os.system', 'builtins.exec', 'getattr chain to exec',
    'HistoryBuffer methods -> exec', 'object dtype', 'huge shape',
    'stand-in function as data', 'HistoryBuffer class-level '
    '_statistics_methods'
])
def test_hostile_pickle_is_refused_as_unsafe(tmp_path, real_ckpt, name):
    evil = tmp_path / 'evil.pth'
    splice(real_ckpt, evil, 'extra', HOSTILE[name](tmp_path / 'pwned'))
    with pytest.raises(UnsafeCheckpointError, match='malicious'):
        safe_load(str(evil))


def test_splice_keeps_a_valid_checkpoint(tmp_path, real_ckpt):
    """The splicing itself is sound: harmless data spliced in loads."""
    out = tmp_path / 'spliced.pth'
    splice(real_ckpt, out, 'extra', dict_of(
        name=s('abc'), n=i(7), items=EMPTY_LIST + i(1) + APPEND))
    loaded = safe_load(str(out))
    assert loaded['extra'] == {'name': 'abc', 'n': 7, 'items': [1]}
    assert 'state_dict' in loaded


# --------------------------------------------------------------------------
# one error per failure kind
# --------------------------------------------------------------------------
def _truncated_zip(tmp_path, real_ckpt):
    data = open(real_ckpt, 'rb').read()
    path = tmp_path / 'half.pth'
    path.write_bytes(data[:len(data) // 2])
    return path


def _damaged_storage(tmp_path, real_ckpt):
    """A zip whose directory is intact but whose data.pkl is cut short."""
    path = tmp_path / 'damaged.pth'
    with zipfile.ZipFile(real_ckpt) as src, \
            zipfile.ZipFile(path, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = data[:len(data) // 2]
            dst.writestr(info, data)
    return path


FAILURES = {
    'missing': (lambda p, c: p / 'nope.pth', CheckpointNotFoundError,
                'does not exist'),
    'empty path': (lambda p, c: '', CheckpointNotFoundError,
                   'Checkpoint path is empty'),
    'empty': (lambda p, c: (p / 'empty.pth').write_bytes(b'') and None or
              p / 'empty.pth', EmptyCheckpointError, 'is empty'),
    'text': (lambda p, c: (p / 't.pth').write_text('model weights v2\n')
             and p / 't.pth', NotACheckpointError, 'text file'),
    'html': (lambda p, c: (p / 'h.pth').write_text(
        '<!DOCTYPE html><html><body>404 Not Found</body></html>') and
        p / 'h.pth', NotACheckpointError, 'HTML'),
    'gzip': (lambda p, c: (p / 'g.pth').write_bytes(
        b'\x1f\x8b\x08\x00' + bytes(range(200))) and p / 'g.pth',
        NotACheckpointError, 'not a checkpoint'),
    'other zip': (lambda p, c: zipfile.ZipFile(p / 'z.pth', 'w').writestr(
        'readme.txt', 'hi') or p / 'z.pth', NotACheckpointError,
        'not a PyTorch checkpoint'),
    'directory': (lambda p, c: p, NotACheckpointError, 'directory'),
    'zip cut in half': (_truncated_zip, CorruptCheckpointError,
                        'truncated or corrupt'),
    'data.pkl cut short': (_damaged_storage, CorruptCheckpointError,
                           'truncated'),
    'checksum mismatch': (lambda p, c: _flipped_bytes(p, c),
                          CorruptCheckpointError, 'do not match their '
                          'checksum'),
    'device file': (lambda p, c: '/dev/zero', NotACheckpointError,
                    'not a regular file'),
    'nested safetensors metadata': (lambda p, c: _nested_metadata(p),
                                    CorruptCheckpointError,
                                    'not readable JSON'),
    'safetensors cut short': (
        lambda p, c: _cut_safetensors(p), CorruptCheckpointError,
        'truncated or corrupt safetensors'),
}


def _flipped_bytes(tmp_path, real_ckpt):
    """A byte of a stored tensor flipped: the zip still opens."""
    path = tmp_path / 'flipped.pth'
    data = bytearray(open(real_ckpt, 'rb').read())
    with zipfile.ZipFile(real_ckpt) as archive:
        info = next(i for i in archive.infolist() if '/data/' in i.filename)
    head = info.header_offset  # local header: 30 bytes, name, extra field
    name_len = int.from_bytes(data[head + 26:head + 28], 'little')
    extra_len = int.from_bytes(data[head + 28:head + 30], 'little')
    data[head + 30 + name_len + extra_len] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _int_persistent_id(tmp_path, real_ckpt):
    path = tmp_path / 'pid.pth'
    splice(real_ckpt, path, 'extra', i(0) + b'Q')  # BINPERSID of an int
    return path


def _nested_metadata(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'nested.safetensors'
    save_file({'w': torch.ones(2)}, str(path), metadata={
        'mmtec_meta': '[' * 100000 + ']' * 100000})
    return path


def test_persistent_id_not_a_tuple_is_refused(tmp_path, real_ckpt):
    path = _int_persistent_id(tmp_path, real_ckpt)
    with pytest.raises(UnsafeCheckpointError, match='not a pickle that '
                       'torch.save writes'):
        safe_load(str(path))


def test_legacy_format_is_read_only_when_trusted(tmp_path, monkeypatch):
    """Files of torch < 1.6 (and bare pickles) get none of the checks."""
    monkeypatch.delenv(trust_module.ENV_VAR, raising=False)
    path = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(3)}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match='legacy'):
        safe_load(str(path))
    assert torch.equal(safe_load(str(path), trust=True)['w'], torch.ones(3))


def _cut_safetensors(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'w.safetensors'
    save_file({'w': torch.ones(1000)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 100])
    return path


@pytest.mark.parametrize('kind', sorted(FAILURES))
def test_each_failure_has_its_own_clear_error(tmp_path, real_ckpt, kind):
    make, error, phrase = FAILURES[kind]
    path = make(tmp_path, real_ckpt)
    with pytest.raises(error) as err:
        safe_load(str(path))
    msg = str(err.value)
    assert str(path) in msg and phrase in msg, msg
    assert OLD_HINT not in msg and 'malicious' not in msg
    assert isinstance(err.value, RuntimeError)
    # MMEngine's resume/load_from path raises the same
    with pytest.raises(error):
        CheckpointLoader.load_checkpoint(str(path))


# --------------------------------------------------------------------------
# the explicit opt-in
# --------------------------------------------------------------------------
class _Harmless:

    def __reduce__(self):
        return (dict, ((('made_by', 'reduce'), ), ))


@pytest.fixture
def unsafe_file(tmp_path, monkeypatch):
    monkeypatch.delenv(trust_module.ENV_VAR, raising=False)
    monkeypatch.setattr(trust_module, '_trusted', set())
    path = tmp_path / 'pickled_objects.pth'
    torch.save({'w': torch.ones(1), 'obj': _Harmless()}, path)
    return str(path)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def log_records():
    """What MMEngine's current logger emits (it bypasses caplog)."""
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def _warnings_about(path, records):
    return [r.getMessage() for r in records
            if r.levelno == logging.WARNING and path in r.getMessage()]


@pytest.mark.parametrize('how', ['env path', 'env all', 'flag', 'config'])
def test_trust_opt_in_loads_refused_file_with_a_warning(
        unsafe_file, monkeypatch, how, log_records):
    with pytest.raises(UnsafeCheckpointError, match='builtins.dict'):
        safe_load(unsafe_file)
    kwargs = {}
    if how == 'env path':
        monkeypatch.setenv(trust_module.ENV_VAR,
                           os.pathsep.join(['/elsewhere.pth', unsafe_file]))
    elif how == 'env all':
        monkeypatch.setenv(trust_module.ENV_VAR, '1')
    elif how == 'flag':
        trust_checkpoint([unsafe_file])
    else:
        kwargs = dict(trust=True)
    loaded = safe_load(unsafe_file, **kwargs)
    assert loaded['obj'] == {'made_by': 'reduce'}
    warnings = _warnings_about(unsafe_file, log_records)
    assert len(warnings) == 1 and 'WITHOUT THE CHECKS' in warnings[0]


def test_trusting_one_file_trusts_no_other(unsafe_file, tmp_path,
                                           monkeypatch):
    other = tmp_path / 'other.pth'
    torch.save({'obj': _Harmless()}, other)
    monkeypatch.setenv(trust_module.ENV_VAR, unsafe_file)
    assert safe_load(unsafe_file)['obj'] == {'made_by': 'reduce'}
    with pytest.raises(UnsafeCheckpointError):
        safe_load(str(other))


def test_clean_trusted_file_loads_safely_without_warning(
        tmp_path, monkeypatch, log_records):
    monkeypatch.setenv(trust_module.ENV_VAR, '1')
    clean = str(tmp_path / 'clean.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': {'iter': 3}},
               clean)
    assert safe_load(clean)['meta'] == {'iter': 3}
    assert not _warnings_about(clean, log_records)


# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------
def test_safetensors_read_whatever_the_extension(tmp_path):
    from safetensors.torch import save_file
    weights = {'a': torch.arange(6.).reshape(2, 3), 'b': torch.ones(2)}
    for name in ('w.safetensors', 'w.pth'):
        save_file(weights, str(tmp_path / name))
        loaded = safe_load(str(tmp_path / name))
        assert set(loaded) == {'a', 'b'}
        torch.testing.assert_close(loaded['a'], weights['a'])


# --------------------------------------------------------------------------
# nothing reads a file around the loader
# --------------------------------------------------------------------------
def _code_only(source: str) -> str:
    """Names and operators of the source, without strings and comments."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return ''.join(t.string for t in tokens
                   if t.type in (tokenize.NAME, tokenize.OP))


def test_code_only_sees_calls_not_docs():
    assert re.search(r'torch\.load\(', _code_only('x = torch.load (f)'))
    assert not re.search(r'torch\.load\(',
                         _code_only('"""torch.load(f)"""  # torch.load(f)'))


def test_no_torch_load_outside_the_loader():
    allowed = {os.path.join('mmtec', 'checkpoint', 'loader.py')}
    stray = []
    for top in ('mmtec', 'tools'):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)
                text = _code_only(open(path, encoding='utf-8').read())
                for pattern in (r'torch\.load\(', r'pickle\.loads?\(',
                                r'torch\.jit\.load\(', r'np\.load\(',
                                r'\bload_checkpoint\('):
                    if re.search(pattern, text) and rel not in allowed:
                        stray.append(f'{rel}: {pattern}')
    assert not stray, stray
