"""mmtec's training checkpoints are plain data: stock weights-only loading.

``torch.load(path, weights_only=True)`` without mmtec (no allow-list, no
stand-ins) must read every file a training run writes; a run that loads
them gets MMEngine's objects (HistoryBuffer, numpy values) back.
"""
import io
import json
import os
import pickle
import random
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmtec.checkpoint.plain_data import (
    CONVERTED_TYPES_KEY,
    NotPlainDataError,
    from_plain,
    to_plain,
)
from mmtec.engine.hooks import ExactResumeHook
from paths import ROOT, TINY_CFG


def stock_load(obj):
    """``torch.save`` then ``torch.load(weights_only=True)`` with torch's
    own allow-list only (nothing anybody added in this process)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    added = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return torch.load(buf, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(added)


# --------------------------------------------------------------------------
# the conversions
# --------------------------------------------------------------------------
def test_message_hub_round_trip():
    hub = MessageHub.get_instance('plain_round_trip')
    for value, count in ((1.5, 1), (2.5, 2), (4.0, 1), (3.0, 4)):
        hub.update_scalar('train/loss', value, count)
    hub.update_scalar('train/lr', 1e-3)
    hub.update_info('iter', 7)
    hub.update_info('eta', np.float64(12.25))
    hub.update_info('keep_ckpt_ids', [3, 4])
    hub.update_info('table', np.arange(6, dtype=np.int32).reshape(2, 3))
    # a buffer shorter than the default: its max_length must come back
    hub.log_scalars['train/short'] = HistoryBuffer(max_length=3)
    for value in (1.0, 2.0, 3.0, 4.0):
        hub.update_scalar('train/short', value)
    state = hub.state_dict()

    plain = stock_load(to_plain(dict(message_hub=state)))
    buffers = plain['message_hub']['log_scalars']
    assert type(buffers['train/loss']) is dict
    assert buffers['train/loss']['log_history'].tolist() == [1.5, 2.5, 4.0,
                                                             3.0]
    assert buffers['train/loss']['count_history'].tolist() == [1, 2, 1, 4]
    assert plain['message_hub']['runtime_info']['eta'] == 12.25

    back = MessageHub.get_instance('plain_round_trip_back')
    back.load_state_dict(from_plain(plain)['message_hub'])
    for key in ('train/loss', 'train/lr', 'train/short'):
        got, want = back.get_scalar(key), hub.get_scalar(key)
        assert type(got) is HistoryBuffer
        for window in (None, 2):
            assert got.mean(window) == want.mean(window)
        assert got.current() == want.current()
        assert got.min() == want.min() and got.max() == want.max()
        for a, b in zip(got.data, want.data):  # values and counts
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        assert got.max_length == want.max_length
    assert back.get_scalar('train/short').max_length == 3
    info = back.runtime_info
    assert set(info) == set(hub.runtime_info)
    assert type(info['eta']) is np.float64 and info['eta'] == 12.25
    assert info['table'].dtype == np.int32
    np.testing.assert_array_equal(info['table'], hub.get_info('table'))
    assert info['iter'] == 7 and info['keep_ckpt_ids'] == [3, 4]
    # the statistics keep working on the rebuilt buffer
    for h in (hub, back):
        h.update_scalar('train/loss', 8.0)
    assert back.get_scalar('train/loss').mean(2) == \
        hub.get_scalar('train/loss').mean(2) == (3.0 + 8.0) / (4 + 1)
    for h in (hub, back):
        h.update_scalar('train/short', 5.0)
    assert back.get_scalar('train/short').mean() == \
        hub.get_scalar('train/short').mean() == (3.0 + 4.0 + 5.0) / 3


def test_numpy_values_come_back_with_their_types():
    meta = dict(
        epoch=1, seed=np.int64(5), lr=np.float32(0.1), flag=np.bool_(True),
        name=np.str_('abc'), kind=np.dtype('>i2'),
        big_endian=np.arange(4, dtype='>u2'),
        fortran=np.asfortranarray(np.arange(6.).reshape(2, 3)),
        nested=(np.int8(-3), [np.zeros(2, np.float16)]),
        dataset_meta=dict(classes=('a', 'b'), palette=np.eye(2)))
    plain = stock_load(to_plain(dict(meta=meta)))
    assert type(plain['meta']['nested'][1][0]) is torch.Tensor
    assert plain['meta']['seed'] == 5 and type(plain['meta']['seed']) is int
    back = from_plain(plain)['meta']
    assert CONVERTED_TYPES_KEY not in from_plain(plain)
    for key, want in meta.items():
        got = back[key]
        assert type(got) is type(want), key
        # Runner.resume compares the dataset meta by its pickle
        assert pickle.dumps(got) == pickle.dumps(want) or key in (
            'fortran', ), key
    np.testing.assert_array_equal(back['fortran'], meta['fortran'])
    assert back['big_endian'].dtype == np.dtype('>u2')


def test_plain_parts_are_shared_and_state_dict_metadata_kept():
    model = torch.nn.Linear(2, 2)
    state = model.state_dict()
    ckpt = dict(meta=dict(epoch=1), state_dict=state,
                message_hub=dict(runtime_info=dict(eta=np.float64(1))))
    plain = to_plain(ckpt)
    assert plain['state_dict'] is state  # nothing copied
    assert plain['meta'] is ckpt['meta']
    assert type(ckpt['message_hub']['runtime_info']['eta']) is np.float64
    loaded = stock_load(plain)['state_dict']
    assert loaded._metadata == state._metadata
    assert to_plain(plain) == plain  # converting twice changes nothing


@pytest.mark.parametrize('value, what', [
    ({1, 2}, 'builtins.set'),
    (object(), 'builtins.object'),
    (np.array(['a', None], dtype=object), 'dtype object'),
    (np.datetime64('2024-01-01'), 'numpy datetime64'),
    (HistoryBuffer, 'builtins.type'),
])
def test_refuses_what_it_cannot_make_plain(value, what):
    ckpt = dict(meta=dict(epoch=1, extra=[0, dict(bad=value)]))
    with pytest.raises(NotPlainDataError) as err:
        to_plain(ckpt)
    message = str(err.value)
    assert "checkpoint['meta']['extra'][1]['bad']" in message, message
    assert what in message and 'plain' in message


def test_refuses_odd_keys_and_cycles():
    with pytest.raises(NotPlainDataError, match=r"checkpoint\['meta'\] has "
                       'a key of type int64'):
        to_plain(dict(meta={np.int64(3): 1}))
    loop = []
    loop.append(loop)
    with pytest.raises(NotPlainDataError, match=r"\['x'\]\[0\] contains "
                       'itself'):
        to_plain(dict(x=loop))


def test_an_edited_table_is_refused():
    plain = to_plain(dict(message_hub=dict(
        log_scalars=OrderedDict(loss=HistoryBuffer([1.0], [1])))))
    plain['message_hub']['log_scalars']['loss'] = 3.0
    with pytest.raises(ValueError, match=r"lists checkpoint\['message_hub'"
                       r"\]\['log_scalars'\]\['loss'\] as a HistoryBuffer"):
        from_plain(plain)
    plain[CONVERTED_TYPES_KEY] = [dict(path=['nowhere'],
                                       type='HistoryBuffer')]
    with pytest.raises(ValueError, match='does not have'):
        from_plain(plain)
    # files saved before (no table) come back unchanged
    old = dict(meta=dict(epoch=1))
    assert from_plain(old) is old


# --------------------------------------------------------------------------
# ExactResumeHook's random states
# --------------------------------------------------------------------------
class _Runner:
    iter = 5
    cfg, model = {}, torch.nn.Linear(1, 1)
    optim_wrapper = train_dataloader = None

    class logger:
        info = warning = staticmethod(lambda msg: None)


def _draws():
    return (random.random(), np.random.rand(3).tolist(),
            np.random.randn(), torch.rand(2).tolist())


@pytest.mark.parametrize('plain_form', [True, False])
def test_rng_states_round_trip(plain_form):
    random.seed(1)
    np.random.seed(2)
    np.random.randn()  # a cached gaussian is part of numpy's state
    torch.manual_seed(3)
    hook = ExactResumeHook()
    if plain_form:
        ckpt = dict(meta=dict(iter=5))
        hook.before_save_checkpoint(_Runner, ckpt)
        ckpt = stock_load(ckpt)  # no numpy objects left
        key = ckpt['meta']['rng_states'][0]['numpy']['state']['key']
        assert type(key) is torch.Tensor and key.shape == (624, )
    else:  # checkpoints saved before hold numpy's own tuple
        ckpt = dict(meta=dict(iter=5, rng_states=[hook._capture()]))
    want = _draws()
    random.seed(10)
    np.random.seed(20)
    torch.manual_seed(30)
    hook.after_load_checkpoint(_Runner, ckpt)
    assert _draws() == want


# --------------------------------------------------------------------------
# files written by training runs, read without mmtec
# --------------------------------------------------------------------------
READER = r'''
import json, sys, torch

def leaf_types(value, found):
    if isinstance(value, dict):
        for key, item in value.items():
            leaf_types(key, found)
            leaf_types(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            leaf_types(item, found)
    else:
        found.add(type(value).__name__)
    return found

report = {}
for path in sys.argv[1:]:
    ckpt = torch.load(path, weights_only=True)
    meta, hub = ckpt['meta'], ckpt.get('message_hub', {})
    rng = meta.get('rng_states')
    grads = ckpt.get('accumulated_gradients')
    report[path] = dict(
        keys=sorted(ckpt),
        containers=sorted({type(v).__name__ for v in ckpt.values()}),
        leaves=sorted(leaf_types(ckpt, set())),
        epoch=meta['epoch'], iter=meta['iter'],
        scalars={
            key: dict(type=type(buf).__name__,
                      log=buf['log_history'].tolist(),
                      count=buf['count_history'].tolist(),
                      max_length=buf['max_length'])
            for key, buf in hub.get('log_scalars', {}).items()},
        info={key: [type(v).__name__, v if isinstance(
            v, (int, float, str)) else None]
            for key, v in hub.get('runtime_info', {}).items()},
        rng_key=None if rng is None else [
            type(rng[0]['numpy']['state']['key']).__name__,
            len(rng[0]['numpy']['state']['key'])],
        grads=None if grads is None else [grads['iter'],
                                          len(grads['grads'])],
        converted=ckpt.get('converted_types', []))
assert 'mmtec' not in sys.modules and 'mmengine' not in sys.modules
print(json.dumps(report))
'''
PLAIN_LEAVES = {'NoneType', 'bool', 'int', 'float', 'str', 'Tensor'}


def read_without_mmtec(folder):
    """Every ``*.pth`` under ``folder``, read by stock
    ``torch.load(weights_only=True)`` in a process that never imports
    mmtec."""
    paths = sorted(
        os.path.join(top, name) for top, _, files in os.walk(folder)
        for name in files if name.endswith('.pth'))
    assert paths, f'no checkpoint in {folder}'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    res = subprocess.run([sys.executable, '-c', READER, *paths],
                         cwd=str(folder), env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)
    return {os.path.relpath(p, folder): v for p, v in report.items()}


def train(work_dir, base, data, epochs, resume=False):
    opts = [f'model.target_generator.checkpoint={base}',
            f'train_dataloader.dataset.data_root={data}',
            f'train_cfg.max_epochs={epochs}',
            'default_hooks.checkpoint.interval=1']
    cmd = [sys.executable, 'tools/train.py', TINY_CFG, '--work-dir',
           str(work_dir), *(['--resume'] if resume else []),
           '--cfg-options', *opts]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res.stdout + res.stderr


@pytest.mark.slow
def test_training_checkpoints_load_with_stock_torch(tmp_path, image_folder,
                                                    tiny_base):
    """1 epoch, then --resume to 2: every file is plain data.

    The tiny config accumulates 2 steps over 5 iterations per epoch; the
    window the 5th opens is dropped at the epoch's end (as in the authors'
    loop), so no file holds gradients. The resumed run restores the message
    hub from the plain file and continues its history.
    """
    work = tmp_path / 'run'
    train(work, tiny_base, image_folder, 1)
    first = read_without_mmtec(work)['epoch_1.pth']
    out = train(work, tiny_base, image_folder, 2, resume=True)
    assert 'Restored the random states of 1 rank(s)' in out
    assert 'Restored the gradients' not in out
    assert 'is not HistoryBuffer' not in out  # MMEngine's skip warning
    files = read_without_mmtec(work)
    assert sorted(files) == ['epoch_1.pth', 'epoch_2.pth']
    assert files['epoch_1.pth'] == first  # not rewritten by the resume

    for name, (epoch, iters) in dict(epoch_1=(1, 5),
                                     epoch_2=(2, 10)).items():
        ckpt = files[name + '.pth']
        assert (ckpt['epoch'], ckpt['iter']) == (epoch, iters)
        assert set(ckpt['leaves']) <= PLAIN_LEAVES, ckpt['leaves']
        assert set(ckpt['containers']) <= {'dict', 'OrderedDict', 'list'}
        assert {'meta', 'state_dict', 'message_hub', 'optimizer',
                'param_schedulers', 'converted_types'} <= set(ckpt['keys'])
        loss = ckpt['scalars']['train/loss']
        assert loss['type'] == 'dict' and len(loss['log']) == iters
        assert loss['count'] == [1] * iters
        assert all(2 < v < 10 for v in loss['log'])  # TEC's two losses
        assert {'train/lr', 'train/loss_feature', 'train/loss_attention',
                'train/time'} <= set(ckpt['scalars'])
        assert ckpt['info']['iter'] == ['int', iters - 1]
        assert ckpt['info']['eta'][0] == 'float'  # numpy in the hub
        assert ckpt['rng_key'] == ['Tensor', 624]
        assert dict(path=['message_hub', 'log_scalars', 'train/loss'],
                    type='HistoryBuffer') in ckpt['converted']
    # accumulation windows end with their epoch
    assert files['epoch_1.pth']['grads'] is None
    assert files['epoch_2.pth']['grads'] is None
    # the resumed run got its history back from the plain file
    assert files['epoch_2.pth']['scalars']['train/loss']['log'][:5] == \
        first['scalars']['train/loss']['log']


def test_best_and_latest_checkpoints_load_with_stock_torch(tmp_path):
    from test_best_checkpoint import toy_runner
    toy_runner(tmp_path, [0.5, 0.7, 0.6]).train()
    files = read_without_mmtec(tmp_path)
    assert sorted(files) == ['best_score_epoch_2.pth', 'epoch_3.pth']
    best, last = files['best_score_epoch_2.pth'], files['epoch_3.pth']
    assert (best['epoch'], last['epoch']) == (2, 3)
    assert 'optimizer' not in best['keys'] and 'optimizer' in last['keys']
    assert last['info']['best_score'] == ['float', 0.7]
    assert last['info']['best_ckpt'][1].endswith('best_score_epoch_2.pth')
    for ckpt in (best, last):
        assert set(ckpt['leaves']) <= PLAIN_LEAVES, ckpt['leaves']
        assert ckpt['scalars']['train/loss']['type'] == 'dict'


def test_scheduler_counter_stays_as_it_is():
    """MultiStepLR keeps its milestones in a Counter, which torch's
    weights-only unpickler reads."""
    from collections import Counter
    checkpoint = {'param_schedulers': [{'milestones': Counter({8: 1,
                                                               11: 1})}]}
    plain = to_plain(checkpoint)
    assert plain['param_schedulers'][0]['milestones'] is \
        checkpoint['param_schedulers'][0]['milestones']
    assert stock_load(plain)['param_schedulers'][0]['milestones'] == \
        Counter({8: 1, 11: 1})


def test_resume_from_a_checkpoint_of_mmengines_own_hook(tmp_path):
    """A run saved by MMEngine's CheckpointHook (HistoryBuffers in its
    message hub, which the loader does not build) resumes: the loop
    position, weights and optimizer come back, the log history starts
    empty, with a warning saying so."""
    from test_best_checkpoint import toy_runner
    first = toy_runner(tmp_path, [0.5, 0.6], hook='CheckpointHook',
                       save_best=None)
    first.train()
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    resumed = toy_runner(tmp_path, [0.5, 0.6, 0.7], save_best=None)
    resumed._resume = True
    logged = []
    resumed.logger.addFilter(lambda r: logged.append(r.getMessage()) or 1)
    resumed.load_or_resume()
    assert resumed.train_loop.epoch == 2 and resumed.train_loop.iter == 4
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert resumed.optim_wrapper.optimizer.state_dict()['param_groups'][0][
        'lr'] == 0.01
    assert any('no readable message hub' in m for m in logged), logged
    assert 'train/loss' not in resumed.message_hub.log_scalars
    resumed.train()  # the third epoch, from there
    assert resumed.train_loop.epoch == 3
