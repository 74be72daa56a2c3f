"""Exact resume: per-sample seeded data, random states, compute totals,
failed saves, preemption and the checks a resumed run reports.

Fast tests: MMEngine's real Runner on a toy model where a runner is
needed; the end-to-end runs of tools/train.py are in test_train_e2e.py.
"""
import itertools
import logging
import os
import random
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import BatchSampler, DataLoader, Dataset

import mmtec  # noqa: F401
from mmtec.checkpoint import safe_load
from mmtec.datasets import SeededSampler
from mmtec.engine.hooks import ComputeRecordHook, ExactResumeHook
from mmtec.engine.hooks.preemption_hook import Preempted

RUN_IDS = itertools.count()


# --- per-sample seeded data ------------------------------------------------

class RandomAugment(Dataset):
    """Item i: i plus draws from python's, numpy's and torch's generators
    (what a random augmentation pipeline does)."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.tensor([float(i), random.random(), np.random.rand(),
                             torch.rand(()).item()], dtype=torch.float64)


def epochs_of(loader, epochs):
    out = []
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        out.append(torch.cat(list(loader)))
    return out


def seeded_loader(workers, persistent=False, dataset=None):
    dataset = dataset or RandomAugment()
    return DataLoader(dataset, batch_size=3,
                      sampler=SeededSampler(dataset, seed=7),
                      num_workers=workers,
                      persistent_workers=persistent)


def test_augmentation_does_not_depend_on_workers_or_restarts():
    """Persistent workers, restarted workers and the main process draw
    the same augmentation; epochs differ; resume = a fresh loader."""
    main = epochs_of(seeded_loader(0), 3)
    persistent = epochs_of(seeded_loader(2, persistent=True), 3)
    for a, b in zip(main, persistent):
        assert torch.equal(a, b)
    # a fresh loader (a resumed run) at epoch 2 equals epoch 2 above
    resumed = seeded_loader(2, persistent=True)
    resumed.sampler.set_epoch(2)
    assert torch.equal(torch.cat(list(resumed)), persistent[2])
    # the order is DefaultSampler's, the draws differ between epochs
    assert sorted(main[0][:, 0].tolist()) == list(range(10))
    assert not torch.equal(main[0][:, 1:].sort(0).values,
                           main[1][:, 1:].sort(0).values)


def test_loading_in_the_main_process_leaves_training_randomness():
    batches = iter(seeded_loader(0))  # (creating it draws a worker seed)
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    list(batches)
    got = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_sampler_skip_starts_the_epoch_part_way():
    loader = seeded_loader(0)
    loader.sampler.set_epoch(1)
    full = torch.cat(list(loader))
    loader.sampler.skip(6)  # two batches of 3 done before the resume
    assert torch.equal(torch.cat(list(loader)), full[6:])
    assert torch.equal(torch.cat(list(loader)), full)  # the next pass: all


# --- random states ---------------------------------------------------------

def fake_runner(**kw):
    return SimpleNamespace(iter=4, logger=logging.getLogger('test_resume'),
                           _load_from='x.pth', _resume=True, cfg={},
                           model=torch.nn.Linear(1, 1), optim_wrapper=None,
                           train_dataloader=None, **kw)


def test_rng_states_restored_through_the_hook_give_the_same_draws():
    torch.manual_seed(1)
    random.seed(1)
    np.random.seed(1)
    ckpt = dict(meta=dict(iter=4), state_dict={})
    ExactResumeHook().before_save_checkpoint(fake_runner(), ckpt)
    expected = (torch.rand(4), random.random(), np.random.rand(2))
    torch.manual_seed(99)  # a resumed run is seeded from the config
    random.seed(99)
    np.random.seed(99)
    ExactResumeHook().after_load_checkpoint(fake_runner(), ckpt)
    got = (torch.rand(4), random.random(), np.random.rand(2))
    assert torch.equal(got[0], expected[0])
    assert got[1] == expected[1]
    assert np.array_equal(got[2], expected[2])


@pytest.mark.parametrize('content,resume,message', [
    ([1, 2], False, 'load_from bad.pth: it holds a list, not the dict of a '
     'checkpoint.'),
    ([1, 2], True, '--resume bad.pth: it holds a list'),
    ({'state_dict': {}}, True, '--resume bad.pth: it is not a training '
     'checkpoint'),
])
def test_unusable_checkpoints_get_one_clear_error(content, resume, message):
    runner = fake_runner()
    runner._load_from, runner._resume = 'bad.pth', resume
    with pytest.raises(ValueError) as err:
        ExactResumeHook().after_load_checkpoint(runner, content)
    assert str(err.value).startswith(message)


def test_weights_without_meta_still_load():
    runner = fake_runner()
    runner._resume = False
    ExactResumeHook().after_load_checkpoint(runner, {'w': torch.ones(1)})


# --- compute totals --------------------------------------------------------

def test_compute_totals_continue_from_a_saved_message_hub():
    hub = MessageHub.get_instance(f'compute_{next(RUN_IDS)}')
    runner = SimpleNamespace(message_hub=hub, iter=0, model=torch.nn.Linear(
        1, 1))
    first = ComputeRecordHook(interval=100)
    first.state['flops_per_image'] = 10.0  # skip the counting iteration
    first.before_train(runner)
    for _ in range(3):
        first.before_train_iter(runner, 0, dict(inputs=torch.zeros(4, 1)))
        first.after_train_iter(runner, 0, dict(inputs=torch.zeros(4, 1)))
    saved = hub.state_dict()  # what a checkpoint holds

    hub2 = MessageHub.get_instance(f'compute_{next(RUN_IDS)}')
    hub2.load_state_dict(saved)
    resumed = ComputeRecordHook(interval=100)
    resumed.before_train(SimpleNamespace(message_hub=hub2))
    assert resumed.state['images'] == 12
    assert resumed.state['flops_per_image'] == 10.0
    assert resumed.state['device_seconds'] == \
        first.state['device_seconds'] > 0


# --- the open accumulation window with a changed accumulation ---------------

def test_changed_accumulation_drops_the_window_with_a_warning(caplog):
    from mmengine.optim import OptimWrapper
    model = torch.nn.Linear(3, 2)
    saved_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                                 accumulative_counts=2)
    saved_wrapper.initialize_count_status(model, 3, 10)
    model(torch.ones(1, 3)).sum().backward()
    ckpt = dict(meta=dict(iter=3))
    runner = SimpleNamespace(model=model, optim_wrapper=saved_wrapper,
                             train_dataloader=SimpleNamespace(batch_size=3),
                             iter=3, logger=logging.getLogger('test_accum'),
                             cfg={})
    ExactResumeHook().before_save_checkpoint(runner, ckpt)
    model.zero_grad(set_to_none=True)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                           accumulative_counts=4)
    wrapper.initialize_count_status(model, 3, 10)
    runner.optim_wrapper = wrapper
    hook = ExactResumeHook()
    hook.after_load_checkpoint(runner, ckpt)
    with caplog.at_level(logging.INFO, logger='test_accum'):
        hook.before_train(runner)
    assert model.weight.grad is None
    text = caplog.text
    assert 'accumulative_counts changes from 2 to 4' in text
    assert 'does not continue' in text and 'continues exactly' not in text


# --- a real Runner on a toy model ------------------------------------------

class NoisyToy(BaseModel):
    """A linear model whose loss draws torch random numbers (like TEC's
    masks), so an inexact random state shows in the weights."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs * (1 + 0.1 * torch.rand_like(inputs)))
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


class ToyData(Dataset):

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(10, 2, generator=g), torch.randn(
            10, generator=g)

    def __len__(self):
        return 10

    def __getitem__(self, i):  # a random augmentation
        return dict(inputs=self.x[i] + 0.1 * torch.randn(2),
                    labels=self.y[i])


def toy_runner(work_dir, epochs=2, resume=None, checkpoint=None,
               accumulate=2, batch_size=3):
    torch.manual_seed(0)  # the same initial weights in every runner
    return Runner(
        model=NoisyToy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(), batch_size=batch_size, num_workers=0,
            sampler=dict(type='SeededSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop',
                       max_epochs=epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                           accumulative_counts=accumulate),
        default_hooks=dict(checkpoint=checkpoint or dict(
            type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)),
        custom_hooks=[dict(type='ExactResumeHook'),
                      dict(type='PreemptionHook')],
        randomness=dict(seed=0),
        load_from=resume, resume=bool(resume),
        default_scope='mmpretrain',
        experiment_name=f'toy_resume_{next(RUN_IDS)}')


def weights(path):
    return safe_load(str(path))['state_dict']


def assert_same_weights(path_a, path_b):
    a, b = weights(path_a), weights(path_b)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class SignalAt(Hook):
    """Sends ``sig`` to this process during iteration ``at`` (0-based)."""

    def __init__(self, at, sig=signal.SIGUSR1):
        self.at, self.sig = at, sig

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            # unhandled, the signal would end the test run, not fail a test
            assert callable(signal.getsignal(self.sig)), \
                f'nothing handles {self.sig.name} in this process'
            os.kill(os.getpid(), self.sig)


class RunAt(Hook):
    """Calls ``action(runner)`` after iteration ``at`` (0-based), before
    ``PreemptionHook`` acts on a signal received during it."""

    priority = 'VERY_LOW'  # PreemptionHook is LOWEST

    def __init__(self, at, action):
        self.at, self.action = at, action

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter == self.at:
            self.action(runner)


def test_preemption_save_is_atomic(tmp_path):
    """The preemption checkpoint is written to a temporary file and renamed
    into place, and so is last_checkpoint: a save that fails half-way
    leaves no partial file under the real name, and a reader of the old
    last_checkpoint never sees it rewritten in place."""
    import resource
    work = tmp_path / 'split'
    pointer = work / 'last_checkpoint'
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)

    def files_stop_at_512_bytes(runner):  # a full disk, for this process
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, limit[1]))

    run = toy_runner(work)
    run.register_hook(SignalAt(4), priority='NORMAL')
    run.register_hook(RunAt(4, files_stop_at_512_bytes))
    try:
        with pytest.raises((OSError, RuntimeError)):  # EFBIG in torch.save
            run.train()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert not (work / 'preempted_iter_5.pth').exists()
    assert pointer.read_text() == str(work / 'epoch_1.pth')
    assert safe_load(str(work / 'epoch_1.pth'))['meta']['iter'] == 4

    # a reader holding the old last_checkpoint (a hard link to it) keeps it
    run = toy_runner(tmp_path / 'again')
    held = tmp_path / 'held_pointer'
    run.register_hook(SignalAt(4), priority='NORMAL')
    run.register_hook(RunAt(4, lambda runner: os.link(
        tmp_path / 'again' / 'last_checkpoint', held)))
    with pytest.raises(Preempted):
        run.train()
    assert (tmp_path / 'again' / 'last_checkpoint').read_text() == \
        str(tmp_path / 'again' / 'preempted_iter_5.pth')
    assert held.read_text() == str(tmp_path / 'again' / 'epoch_1.pth')


def test_resume_with_another_batch_size_drops_the_open_window(tmp_path):
    """As the README says: a resume with another batch size (or world
    size) does not add the checkpoint's partial gradient to its first
    window. Reference: the same resume from the checkpoint without it."""
    run = toy_runner(tmp_path / 'first')
    run.register_hook(SignalAt(4), priority='NORMAL')
    with pytest.raises(Preempted):
        run.train()
    saved = tmp_path / 'first' / 'preempted_iter_5.pth'
    ckpt = torch.load(saved, weights_only=True)
    assert ckpt['accumulated_gradients']['iter'] == 5  # window open
    without = tmp_path / 'without_window.pth'
    del ckpt['accumulated_gradients']
    torch.save(ckpt, without)
    toy_runner(tmp_path / 'a', resume=str(saved), batch_size=2).train()
    log = ''.join(open(p).read() for p in (tmp_path / 'a').glob('*/*.log'))
    assert 'open gradient-accumulation window (1 of 2 iterations) is ' \
        'dropped: batch_size changes from 3 to 2' in log
    toy_runner(tmp_path / 'b', resume=str(without), batch_size=2).train()
    assert_same_weights(tmp_path / 'a' / 'epoch_2.pth',
                        tmp_path / 'b' / 'epoch_2.pth')
    # and with the batch size unchanged, the window is restored
    toy_runner(tmp_path / 'c', resume=str(saved)).train()
    toy_runner(tmp_path / 'd', resume=str(without)).train()
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / 'c' / 'epoch_2.pth',
                            tmp_path / 'd' / 'epoch_2.pth')


def test_preemption_saves_the_exact_state_and_resume_continues(tmp_path):
    straight = toy_runner(tmp_path / 'straight')
    straight.train()
    # 4 batches per epoch: preempted inside epoch 2, in an open window
    run = toy_runner(tmp_path / 'split')
    run.register_hook(SignalAt(4), priority='NORMAL')
    with pytest.raises(Preempted) as stop:
        run.train()
    assert stop.value.code == 75
    saved = tmp_path / 'split' / 'preempted_iter_5.pth'
    ckpt = safe_load(str(saved))
    assert ckpt['meta']['iter'] == 5 and ckpt['meta']['epoch'] == 1
    assert ckpt['accumulated_gradients']['iter'] == 5  # window open
    assert (tmp_path / 'split' / 'last_checkpoint').read_text() == \
        str(saved)
    assert (tmp_path / 'split' / 'epoch_1.pth').exists()  # kept

    resumed = toy_runner(tmp_path / 'split', resume=str(saved))
    resumed.train()
    assert_same_weights(tmp_path / 'straight' / 'epoch_2.pth',
                        tmp_path / 'split' / 'epoch_2.pth')
    assert safe_load(str(tmp_path / 'split' /
                         'epoch_2.pth'))['meta']['iter'] == 8
    assert not saved.exists()  # superseded by epoch_2.pth


@pytest.mark.parametrize('at,accumulate', [(3, 2), (5, 1), (5, 2)])
def test_mid_epoch_iteration_checkpoint_resumes_exactly(tmp_path, at,
                                                        accumulate):
    """4 batches per epoch: iteration 3 is inside epoch 1, iteration 5 one
    batch into epoch 2 (right after the epoch end's saved states)."""
    by_iter = dict(type='AtomicCheckpointHook', by_epoch=False,
                   interval=at, max_keep_ckpts=-1)
    toy_runner(tmp_path / 'straight', checkpoint=by_iter,
               accumulate=accumulate).train()
    first = tmp_path / 'straight' / f'iter_{at}.pth'
    toy_runner(tmp_path / 'resumed', checkpoint=by_iter,
               resume=str(first), accumulate=accumulate).train()
    assert_same_weights(tmp_path / 'straight' / 'iter_8.pth',
                        tmp_path / 'resumed' / 'iter_8.pth')
    assert not (tmp_path / 'resumed' / 'iter_9.pth').exists()


class CountUpdates(Hook):
    """Counts the iterations after which the optimizer stepped (the
    wrapper zeroes the gradients right after its step), and records whether
    each epoch starts without gradients."""

    def __init__(self):
        self.updates, self.epoch_starts_clean = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 0:
            self.epoch_starts_clean.append(
                runner.model.linear.weight.grad is None)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.model.linear.weight.grad is None:
            self.updates.append((runner.epoch, batch_idx))


def test_windows_restart_each_epoch_also_when_resumed(tmp_path):
    """5 batches per epoch, accumulation 2: as in the authors' loop, the
    optimizer steps after batches 1 and 3 of each epoch and the 5th batch's
    gradient is dropped; a run resumed 3 batches into epoch 2 (iteration 8,
    an open window MMEngine's own count would call closed) continues
    exactly."""
    by_iter = dict(type='AtomicCheckpointHook', by_epoch=False, interval=8,
                   max_keep_ckpts=-1)
    straight = toy_runner(tmp_path / 'straight', checkpoint=by_iter,
                          batch_size=2)
    counter = CountUpdates()
    straight.register_hook(counter)
    straight.train()
    assert counter.updates == [(0, 1), (0, 3), (1, 1), (1, 3)]
    assert counter.epoch_starts_clean == [True, True]
    saved = tmp_path / 'straight' / 'iter_8.pth'
    assert safe_load(str(saved))['accumulated_gradients']['iter'] == 8
    resumed = toy_runner(tmp_path / 'resumed', checkpoint=by_iter,
                         resume=str(saved), batch_size=2)
    counter = CountUpdates()
    resumed.register_hook(counter)
    resumed.train()
    assert counter.updates == [(1, 3)]
    assert_same_weights(tmp_path / 'straight' / 'iter_10.pth',
                        tmp_path / 'resumed' / 'iter_10.pth')


def test_failed_epoch_save_keeps_the_previous_checkpoint(tmp_path,
                                                         monkeypatch):
    work = tmp_path / 'run'
    runner = toy_runner(work, epochs=3)
    real_save = torch.save
    calls = []

    def failing_save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # epoch 2: half written, then the disk fails
            f.write(b'\x80partial')
            raise OSError(28, 'No space left on device (simulated)')
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, 'save', failing_save)
    with pytest.raises(OSError, match='simulated'):
        runner.train()
    assert (work / 'last_checkpoint').read_text() == str(work /
                                                         'epoch_1.pth')
    assert safe_load(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1
    assert not (work / 'epoch_2.pth').exists()


def test_resume_warns_about_a_changed_setup(tmp_path, caplog):
    toy_runner(tmp_path / 'run', epochs=1).train()
    runner = toy_runner(tmp_path / 'run', epochs=2, accumulate=4,
                        resume=str(tmp_path / 'run' / 'epoch_1.pth'))
    logs = []
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record)
    runner.logger.addHandler(handler)
    runner.train()
    warnings = [r.getMessage() for r in logs
                if r.levelno == logging.WARNING]
    assert any(
        m.startswith('--resume is not exact: accumulative_counts changes '
                     'from 2 to 4 (images per optimizer step: 6 -> 12)')
        for m in warnings), warnings
    assert not any('continues exactly' in r.getMessage() for r in logs)


# --- resume_check.py ------------------------------------------------------

def test_resume_check_refuses_a_folder_it_did_not_create(tmp_path):
    import importlib.util

    from paths import ROOT as root
    spec = importlib.util.spec_from_file_location(
        'resume_check',
        os.path.join(root, 'tools', 'analysis_tools', 'resume_check.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    keep = tmp_path / 'results' / 'important.txt'
    keep.parent.mkdir()
    keep.write_text('not mine')
    with pytest.raises(SystemExit) as err:
        # a config that does not exist: nothing may be touched regardless
        tool.main(['no/such/config.py', '--work-dir', str(keep.parent)])
    assert 'exists and is not empty' in str(err.value)
    assert keep.read_text() == 'not mine'


# --- ResumableIterBasedTrainLoop -------------------------------------------

class CountedToyData(ToyData):
    """ToyData that counts its loads and says whether the process loading
    an item ignores SIGUSR1 (a worker shielded by PreemptionHook)."""

    loads = 0

    def __getitem__(self, i):
        CountedToyData.loads += 1
        item = super().__getitem__(i)
        item['shielded'] = torch.tensor(
            signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN)
        return item


class ShieldedBatches(Hook):
    """Records each batch's ``shielded`` flags."""

    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen.extend(data_batch.pop('shielded').tolist())


class GroupingBatchSampler(BatchSampler):
    """Batches of even or of odd indices, each kind held back until it
    fills (as MMDetection's AspectRatioBatchSampler groups by shape)."""

    def __init__(self, sampler, batch_size, drop_last=False):
        # MMEngine builds a batch sampler from sampler and batch_size only
        super().__init__(sampler, batch_size, drop_last)

    def __iter__(self):
        held = {0: [], 1: []}
        for i in self.sampler:
            group = held[i % 2]
            group.append(i)
            if len(group) == self.batch_size:
                yield group[:]
                group.clear()


def iter_runner(work_dir, loop='ResumableIterBasedTrainLoop',
                sampler='InfiniteSampler', resume=None, workers=0,
                batch_sampler=None):
    torch.manual_seed(0)
    return Runner(
        model=NoisyToy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=CountedToyData(), batch_size=3, num_workers=workers,
            sampler=dict(type=sampler, shuffle=True, seed=3),
            batch_sampler=batch_sampler,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(type=loop, max_iters=9, val_interval=100),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(
            type='AtomicCheckpointHook', by_epoch=False, interval=9)),
        custom_hooks=[dict(type='ExactResumeHook'),
                      dict(type='PreemptionHook'),
                      dict(type='ShieldedBatchesForTest')],
        randomness=dict(seed=0),
        load_from=resume, resume=bool(resume),
        default_scope='mmpretrain',
        experiment_name=f'toy_iter_{next(RUN_IDS)}')


@pytest.fixture
def shield_recorder():
    from mmpretrain.registry import DATA_SAMPLERS, HOOKS
    HOOKS.register_module('ShieldedBatchesForTest', module=ShieldedBatches,
                          force=True)
    DATA_SAMPLERS.register_module('GroupingBatchSamplerForTest',
                                  module=GroupingBatchSampler, force=True)


@pytest.mark.parametrize('sampler,grouped', [('InfiniteSampler', False),
                                             ('DefaultSampler', False),
                                             ('InfiniteSampler', True)])
def test_iteration_loop_resumes_exactly_without_reloading(
        tmp_path, shield_recorder, sampler, grouped):
    batch_sampler = (dict(type='GroupingBatchSamplerForTest')
                     if grouped else None)
    iter_runner(tmp_path / 'straight', sampler=sampler,
                batch_sampler=batch_sampler).train()
    # preempted during iteration 5 (0-based 4) of 9, then resumed; 10
    # samples in batches of 3: a finite sampler restarts twice
    run = iter_runner(tmp_path / 'split', sampler=sampler,
                      batch_sampler=batch_sampler)
    run.register_hook(SignalAt(4), priority='NORMAL')
    with pytest.raises(Preempted):
        run.train()
    saved = tmp_path / 'split' / 'preempted_iter_5.pth'
    CountedToyData.loads = 0
    iter_runner(tmp_path / 'split', sampler=sampler, resume=str(saved),
                batch_sampler=batch_sampler).train()
    assert_same_weights(tmp_path / 'straight' / 'iter_9.pth',
                        tmp_path / 'split' / 'iter_9.pth')
    # InfiniteSampler: only the 4 remaining batches are loaded; another
    # sampler loads and drops the 5 trained ones first: all 9 batches,
    # 3 + 3 + 3 + 1 samples per epoch of 10 (of 3 each when grouped: the
    # indices held back cannot be skipped by count)
    loads = {('InfiniteSampler', False): 4 * 3,
             ('DefaultSampler', False): 10 + 10 + 3,
             ('InfiniteSampler', True): 9 * 3}
    assert CountedToyData.loads == loads[sampler, grouped]


def test_iteration_loop_starts_workers_after_preemption_hook(
        tmp_path, shield_recorder):
    seen = {}
    for loop in ('IterBasedTrainLoop', 'ResumableIterBasedTrainLoop'):
        runner = iter_runner(tmp_path / loop, loop=loop, workers=1)
        runner.train()
        hook, = [h for h in runner.hooks if isinstance(h, ShieldedBatches)]
        seen[loop] = set(hook.seen)
    # MMEngine's loop starts its workers when it is built, before the hook
    assert seen == {'IterBasedTrainLoop': {False},
                    'ResumableIterBasedTrainLoop': {True}}
