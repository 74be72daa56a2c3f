"""Crash-safe saving, choosing what --resume continues from, free space."""
import collections
import glob
import os
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends import LocalBackend
from mmengine.runner import Runner

import mmtec  # noqa: F401
from mmtec.checkpoint import safe_load
from mmtec.engine.hooks.atomic_checkpoint_hook import checkpoint_bytes
from mmtec.engine.resume import find_resumable_checkpoint
from mmtec.run_config.adapt import adapt_to_cpu
from paths import ROOT, TINY_CFG
from timeouts import TRAIN_S


def options(base, data, epochs, keep=1):
    return {
        'model.target_generator.checkpoint': base,
        'train_dataloader.dataset.data_root': data,
        'train_cfg.max_epochs': epochs,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': keep,
    }


def tiny_runner(work_dir, base, data, epochs, keep=1):
    cfg = Config.fromfile(TINY_CFG)
    cfg.merge_from_dict(options(base, data, epochs, keep))
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    adapt_to_cpu(cfg)
    return Runner.from_cfg(cfg)


# --- crash during a save ---------------------------------------------------

@pytest.mark.slow
def test_crash_while_saving_loses_at_most_the_epoch_in_flight(
        tmp_path, image_folder, tiny_base, monkeypatch):
    """A save that dies half way (max_keep_ckpts=1) costs one epoch."""
    work = tmp_path / 'run'
    put = LocalBackend.put
    saves = []

    def crashing_put(self, obj, filepath):
        saves.append(filepath)
        if len(saves) == 2:  # epoch 2: write half the bytes, then fail
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(28, 'No space left on device (simulated)')
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', crashing_put)
    runner = tiny_runner(work, tiny_base, image_folder, 3)
    with pytest.raises(OSError, match='simulated'):
        runner.train()
    monkeypatch.setattr(LocalBackend, 'put', put)
    # the finished epoch is intact and still named; the partial write is
    # not a .pth that anything would pick up
    assert {'epoch_1.pth', 'last_checkpoint'} <= set(os.listdir(work))
    assert (work / 'last_checkpoint').read_text() == str(work /
                                                         'epoch_1.pth')
    assert safe_load(str(work / 'epoch_1.pth'))['meta']['epoch'] == 1
    assert not os.path.exists(work / 'epoch_2.pth')
    assert glob.glob(str(work / 'epoch_2.pth*'))  # the partial temp file

    opts = [f'{k}={v}' for k, v in options(tiny_base, image_folder,
                                           3).items()]
    res = subprocess.run(
        [sys.executable, 'tools/train.py', TINY_CFG, '--work-dir',
         str(work), '--resume', '--cfg-options', *opts],
        cwd=ROOT, capture_output=True, text=True, timeout=TRAIN_S)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert 'resumed epoch: 1, iter: 5' in out
    assert 'an incomplete checkpoint left by a save' in out
    left = sorted(glob.glob(str(work / '*.pth')))
    assert left == [str(work / 'epoch_3.pth')]  # max_keep_ckpts=1
    for path in left:
        assert safe_load(path)['meta']['iter'] == 15
    assert not glob.glob(str(work / '*.tmp'))
    assert (work / 'last_checkpoint').read_text() == str(work /
                                                         'epoch_3.pth')


# --- free space ------------------------------------------------------------

def test_checkpoint_size_estimate_by_hand():
    lin = torch.nn.Linear(3, 2)  # 8 float32 values: 32 bytes
    assert checkpoint_bytes(lin, None) == 32
    adamw = torch.optim.AdamW(lin.parameters())
    assert checkpoint_bytes(lin, adamw) == 32 + 2 * 32  # two moments
    sgd = torch.optim.SGD(lin.parameters(), lr=0.1)
    assert checkpoint_bytes(lin, sgd) == 32
    sgd_m = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    assert checkpoint_bytes(lin, sgd_m) == 32 + 32
    # an open accumulation window adds one gradient per trainable value
    assert checkpoint_bytes(lin, adamw, with_gradients=True) == 32 * 4
    lin(torch.ones(1, 3)).sum().backward()
    adamw.step()  # real state now: exp_avg, exp_avg_sq + a step scalar
    assert checkpoint_bytes(lin, adamw) == 32 + 2 * 32 + 2 * 4


@pytest.mark.slow
def test_full_disk_stops_before_the_first_iteration(
        tmp_path, image_folder, tiny_base, monkeypatch):
    usage = collections.namedtuple('usage', 'total used free')
    monkeypatch.setattr(shutil, 'disk_usage',
                        lambda path: usage(10**9, 10**9 - 1000, 1000))
    runner = tiny_runner(tmp_path / 'full', tiny_base, image_folder, 1, 3)
    with pytest.raises(OSError) as err:
        runner.train()
    assert runner.iter == 0
    msg = str(err.value)
    size = checkpoint_bytes(runner.model, runner.optim_wrapper.optimizer,
                            with_gradients=True)  # accumulative_counts=2
    assert 'Not enough free disk space for checkpoints in' in msg
    assert str(tmp_path / 'full') in msg
    assert '0.0 MiB free' in msg
    assert f'{4 * size / 2**20:.1f} MiB needed for 4 checkpoint(s) of ' \
        f'about {size / 2**20:.1f} MiB each (max_keep_ckpts=3 kept' in msg
    assert not glob.glob(str(tmp_path / 'full' / '*.pth'))


# --- choosing the checkpoint to resume from ---------------------------------

def fake_training_checkpoint(path, epoch, mtime):
    torch.save(
        dict(meta=dict(epoch=epoch, iter=5 * epoch),
             state_dict=dict(w=torch.full((4, ), float(epoch))),
             message_hub=dict()), path)
    os.utime(path, (mtime, mtime))


def warnings_of(monkeypatch):
    import mmtec.engine.resume as resume
    seen = []
    monkeypatch.setattr(resume, '_warn', seen.append)
    return seen


def test_resume_skips_damaged_checkpoints(tmp_path, monkeypatch):
    seen = warnings_of(monkeypatch)
    good = tmp_path / 'epoch_1.pth'
    fake_training_checkpoint(good, 1, 1000)
    fake_training_checkpoint(tmp_path / 'epoch_2.pth', 2, 2000)
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_2.pth').write_bytes(data[:len(data) // 2])
    os.utime(tmp_path / 'epoch_2.pth', (2000, 2000))
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    os.utime(tmp_path / 'epoch_3.pth', (3000, 3000))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(good)
    assert len(seen) == 2
    assert seen[0].startswith(
        f'Skipping damaged checkpoint {tmp_path / "epoch_3.pth"}')
    assert seen[1].startswith(
        f'Skipping damaged checkpoint {tmp_path / "epoch_2.pth"}')


def test_resume_with_empty_or_dangling_last_checkpoint(tmp_path,
                                                        monkeypatch):
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    fake_training_checkpoint(tmp_path / 'epoch_2.pth', 2, 2000)
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    assert seen == [
        f'{tmp_path / "last_checkpoint"} is empty (a save was interrupted?); '
        'looking for the newest checkpoint instead.'
    ]
    seen.clear()
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_9.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    assert seen[0].startswith(f'{tmp_path / "last_checkpoint"} names '
                              f'{tmp_path / "epoch_9.pth"}, which does not '
                              'exist')


@pytest.mark.parametrize('content', [b'\x80\xffPK\x03\x04', b'a\0b',
                                     b'x' * 5000])
def test_resume_with_a_binary_last_checkpoint(tmp_path, monkeypatch,
                                              content):
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    (tmp_path / 'last_checkpoint').write_bytes(content)
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_1.pth')
    assert seen == [f'{tmp_path / "last_checkpoint"} is not a text file '
                    'naming a checkpoint (damaged?); looking for the newest '
                    'checkpoint instead.']


def test_resume_refuses_another_runs_checkpoint(tmp_path, monkeypatch):
    """last_checkpoint naming a checkpoint of another work dir, with no
    file of that name in this one: an error, not followed."""
    work, other = tmp_path / 'work', tmp_path / 'other'
    work.mkdir()
    other.mkdir()
    fake_training_checkpoint(work / 'epoch_1.pth', 1, 1000)
    fake_training_checkpoint(other / 'epoch_5.pth', 5, 2000)
    (work / 'last_checkpoint').write_text(str(other / 'epoch_5.pth'))
    with pytest.raises(ValueError) as err:
        find_resumable_checkpoint(str(work))
    assert str(err.value) == (
        f'--resume: {work / "last_checkpoint"} names {other / "epoch_5.pth"}'
        f', outside this run\'s checkpoint folder(s) {work}: another run\'s '
        'checkpoint. To continue from it, pass --resume with its path; '
        'otherwise remove that last_checkpoint file.')


def test_resume_ignores_weights_only_files(tmp_path, monkeypatch):
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    torch.save({'w': torch.ones(2)}, tmp_path / 'base_model.pth')
    os.utime(tmp_path / 'base_model.pth', (2000, 2000))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_1.pth')
    assert 'not a training checkpoint' in seen[0]
    assert find_resumable_checkpoint(str(tmp_path / 'nothing')) is None


# --- the open accumulation window ------------------------------------------

def accumulating_runner(inner_count, seed=0):
    import logging
    from types import SimpleNamespace

    from mmengine.optim import OptimWrapper
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                           accumulative_counts=2)
    wrapper.initialize_count_status(model, inner_count, 10)
    # iter: iterations done, as a resumed Runner has it in before_train
    return SimpleNamespace(model=model, optim_wrapper=wrapper,
                           train_dataloader=SimpleNamespace(batch_size=4),
                           iter=inner_count, cfg={},
                           logger=logging.getLogger('test_accumulation'))


def test_open_window_is_saved_and_restored_only_on_resume():
    from mmtec.engine.hooks import ExactResumeHook
    hook = ExactResumeHook()
    saved = accumulating_runner(3)  # 3 % 2: one iteration in the window
    saved.model(torch.ones(1, 3)).sum().backward()
    ckpt = dict(meta=dict(iter=3))
    hook.before_save_checkpoint(saved, ckpt)
    assert ckpt['accumulated_gradients']['iter'] == 3
    grads = ckpt['accumulated_gradients']['grads']
    assert torch.equal(grads['weight'], torch.ones(2, 3))
    assert torch.equal(grads['bias'], torch.ones(2))

    resumed = accumulating_runner(3, seed=1)
    hook = ExactResumeHook()
    hook.after_load_checkpoint(resumed, ckpt)
    hook.before_train(resumed)
    assert torch.equal(resumed.model.weight.grad, torch.ones(2, 3))
    # windows follow the iteration count, not the end of this run
    assert resumed.optim_wrapper._max_counts == -1

    loaded = accumulating_runner(0, seed=1)  # load_from: not a resume
    hook = ExactResumeHook()
    hook.after_load_checkpoint(loaded, ckpt)
    hook.before_train(loaded)
    assert loaded.model.weight.grad is None

    closed = accumulating_runner(4)  # window closed: nothing to save
    ckpt = dict(meta=dict(iter=4))
    hook.before_save_checkpoint(closed, ckpt)
    assert set(ckpt) == {'meta'} and ckpt['meta']['iter'] == 4  # no grads


def test_resume_prefers_the_newest_complete_save(tmp_path, monkeypatch):
    """A crash between renaming epoch_2.pth and updating last_checkpoint."""
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    fake_training_checkpoint(tmp_path / 'epoch_2.pth', 2, 2000)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    assert seen == []


def test_resume_tries_the_newest_checkpoint_first(tmp_path, monkeypatch):
    """Of two checkpoints at the same iteration, the newer one is used
    (the candidates are tried newest first; a later one must be further
    on to replace it)."""
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    fake_training_checkpoint(tmp_path / 'epoch_2.pth', 2, 2000)
    fake_training_checkpoint(tmp_path / 'preempted_iter_10.pth', 2, 3000)
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'preempted_iter_10.pth')
    os.utime(tmp_path / 'epoch_2.pth', (4000, 4000))
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    assert seen == []


def test_resume_refuses_to_start_over_damaged_checkpoints(tmp_path,
                                                          monkeypatch):
    seen = warnings_of(monkeypatch)
    (tmp_path / 'epoch_4.pth').write_bytes(b'PK\x03\x04 truncated')
    torch.save({'w': torch.ones(2)}, tmp_path / 'base_model.pth')
    with pytest.raises(RuntimeError) as err:
        find_resumable_checkpoint(str(tmp_path))
    assert str(err.value) == (
        f'--resume: none of the checkpoints in {tmp_path} loads '
        '(epoch_4.pth; the reasons are logged above). Not starting from '
        'scratch over them: move them away to start afresh, or pass '
        '--resume PATH.')
    assert any(m.startswith('Skipping damaged checkpoint') for m in seen)


# --- where --resume looks ---------------------------------------------------

def test_resume_finds_checkpoints_in_the_hooks_out_dir(tmp_path,
                                                       monkeypatch):
    """With default_hooks.checkpoint.out_dir the files are written to
    out_dir/<work dir name>; last_checkpoint stays in the work dir."""
    seen = warnings_of(monkeypatch)
    work, shared = tmp_path / 'work_dirs' / 'run', tmp_path / 'shared'
    work.mkdir(parents=True)
    (shared / 'run').mkdir(parents=True)
    fake_training_checkpoint(shared / 'run' / 'epoch_1.pth', 1, 1000)
    fake_training_checkpoint(shared / 'run' / 'epoch_2.pth', 2, 2000)
    (work / 'last_checkpoint').write_text(str(shared / 'run' /
                                              'epoch_2.pth'))
    assert find_resumable_checkpoint(str(work), str(shared)) == str(
        shared / 'run' / 'epoch_2.pth')
    (work / 'last_checkpoint').unlink()  # lost: the newest that loads
    assert find_resumable_checkpoint(str(work), str(shared)) == str(
        shared / 'run' / 'epoch_2.pth')
    assert seen == []


def test_resume_trusts_last_checkpoint_in_a_copied_work_dir(tmp_path,
                                                            monkeypatch):
    """Copied without timestamps: epoch_1 looks newer than epoch_2."""
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_2.pth', 2, 1000)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 2000)
    # written by the original run, elsewhere
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/run/epoch_2.pth')
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    (tmp_path / 'last_checkpoint').unlink()  # then the latest iteration
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_2.pth')
    assert seen == []


def test_resume_skips_a_dangling_link(tmp_path, monkeypatch):
    seen = warnings_of(monkeypatch)
    fake_training_checkpoint(tmp_path / 'epoch_1.pth', 1, 1000)
    os.symlink(tmp_path / 'gone.pth', tmp_path / 'latest.pth')
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path /
                                                           'epoch_1.pth')
    assert seen == [f'Skipping {tmp_path / "latest.pth"} for --resume: it '
                    f'is a link to {tmp_path / "gone.pth"}, which does not '
                    'exist.']


def test_train_resume_reads_the_checkpoint_hooks_out_dir(tmp_path):
    import importlib.util

    from mmengine.config import Config
    spec = importlib.util.spec_from_file_location(
        'train_tool', os.path.join(ROOT, 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    work, shared = tmp_path / 'run', tmp_path / 'shared'
    (shared / 'run').mkdir(parents=True)
    work.mkdir()
    fake_training_checkpoint(shared / 'run' / 'epoch_2.pth', 2, 2000)
    (work / 'last_checkpoint').write_text(str(shared / 'run' /
                                              'epoch_2.pth'))
    cfg = Config(dict(work_dir=str(work), resume=True, load_from=None,
                      default_hooks=dict(checkpoint=dict(
                          type='AtomicCheckpointHook', out_dir=str(shared)))))
    tool.choose_auto_resume(cfg)
    assert cfg.resume is True
    assert cfg.load_from == str(shared / 'run' / 'epoch_2.pth')
    # found by looking in out_dir, not only through last_checkpoint
    (work / 'last_checkpoint').unlink()
    cfg.load_from = None
    tool.choose_auto_resume(cfg)
    assert cfg.resume is True
    assert cfg.load_from == str(shared / 'run' / 'epoch_2.pth')
