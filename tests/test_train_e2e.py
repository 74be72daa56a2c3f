"""End-to-end pretraining through MMEngine's Runner, on CPU."""
import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fmnist_lab import export_image_folder
from paths import ROOT, TINY_CFG
from timeouts import TRAIN_S
from vit_checkpoints import layouts, random_vit


def run(cmd, env=None):
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=TRAIN_S)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def train(work_dir, base, data, epochs, config=TINY_CFG, gpus=None,
          resume=False, extra=()):
    opts = [f'model.target_generator.checkpoint={base}',
            f'train_dataloader.dataset.data_root={data}',
            f'train_cfg.max_epochs={epochs}', *extra]
    args = [config, '--work-dir', str(work_dir)]
    if resume:
        args.append('--resume')
    if gpus:
        cmd = ['bash', 'tools/dist_train.sh', config, str(gpus),
               *args[1:], '--cfg-options', *opts]
        env = {'PORT': str(29500 + os.getpid() % 1000)}
    else:
        cmd = [sys.executable, 'tools/train.py', *args, '--cfg-options',
               *opts]
        env = None
    return run(cmd, env)


def logged(work_dir, key):
    values = []
    for path in glob.glob(os.path.join(work_dir, '*', 'vis_data',
                                       '*.json')):
        for line in open(path):
            rec = json.loads(line)
            if key in rec:
                values.append(rec[key])
    return values


# A learning rate at which an inexact resume shows: constant 0.05 (no
# warm-up, a cosine from 0.05 to 0.05), no batch-size scaling.
FAST_LR = ['auto_scale_lr.enable=False', 'optim_wrapper.optimizer.lr=0.05',
           'param_scheduler.0.warmup_epochs=0',
           'param_scheduler.0.eta_min=0.05']


def first_logged_iter(work_dir):
    """The first iteration logged by the newest run in ``work_dir``."""
    runs = sorted(glob.glob(os.path.join(work_dir, '2*', 'vis_data',
                                         '*.json')))
    iters = [json.loads(line)['iter'] for line in open(runs[-1])
             if '"iter"' in line]
    return min(iters)


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, image_folder, tiny_base):
    """1 epoch + --resume 1 epoch == 2 epochs, bit for bit.

    The tiny config accumulates 2 steps over 5 iterations per epoch: as in
    the authors' loop, the window the 5th opens is dropped at the epoch's
    end and epoch 2 starts a new one.
    """
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    train(straight, tiny_base, image_folder, 2, extra=FAST_LR)
    train(split, tiny_base, image_folder, 1, extra=FAST_LR)
    assert os.path.isfile(split / 'epoch_1.pth')
    res = train(split, tiny_base, image_folder, 2, resume=True, extra=FAST_LR)
    out = res.stdout + res.stderr
    # it really resumed: iteration count and RNG states
    assert 'resumed epoch: 1, iter: 5' in out
    assert first_logged_iter(str(split)) == 6
    assert 'Restored the random states of 1 rank(s) saved at iteration 5' \
        in out
    assert 'Restored the gradients' not in out
    assert 'gradient of some iterations is lost' not in out
    a = torch.load(straight / 'epoch_2.pth', weights_only=False)
    b = torch.load(split / 'epoch_2.pth', weights_only=False)
    first = torch.load(split / 'epoch_1.pth', weights_only=False)
    assert 'accumulated_gradients' not in first  # dropped at the epoch end
    assert a['meta']['iter'] == b['meta']['iter'] == 10
    assert set(a['state_dict']) == set(b['state_dict'])
    assert not any('target_generator' in k for k in a['state_dict'])
    for key in a['state_dict']:  # deterministic on CPU: no tolerance
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    # and epoch 2 moved the weights far more than any rounding
    moved = max((b['state_dict'][k].float() -
                 first['state_dict'][k].float()).abs().max().item()
                for k in b['state_dict'])
    assert moved > 1e-2


@pytest.mark.slow
def test_dist_train_two_cpu_processes_and_resume(tmp_path, image_folder,
                                                 tiny_base):
    work = tmp_path / 'dist'
    res = train(work, tiny_base, image_folder, 1, gpus=2)
    assert os.path.isfile(work / 'epoch_1.pth')
    assert logged(str(work), 'loss_feature')
    assert logged(str(work), 'loss_attention')
    # the compute record counts both ranks' images (10 each per epoch)
    with open(work / 'compute.json') as f:
        first = json.load(f)
    assert first['world_size'] == 2 and first['images'] == 20
    assert first['model_pflops'] == pytest.approx(
        first['flops_per_image'] * 20 / 1e15)
    res = train(work, tiny_base, image_folder, 2, gpus=2, resume=True)
    assert 'resumed epoch: 1' in res.stdout + res.stderr
    assert os.path.isfile(work / 'epoch_2.pth')
    with open(work / 'compute.json') as f:
        second = json.load(f)  # carried over the resume
    assert second['images'] == 40
    assert second['flops_per_image'] == first['flops_per_image'] > 0
    assert second['device_hours'] > first['device_hours']


@pytest.mark.slow
def test_nan_loss_stops_before_saving(tmp_path, image_folder, tiny_base):
    work = tmp_path / 'nan'
    res = subprocess.run(
        [sys.executable, 'tools/train.py', TINY_CFG, '--work-dir', str(work),
         '--cfg-options', f'model.target_generator.checkpoint={tiny_base}',
         f'train_dataloader.dataset.data_root={image_folder}',
         'train_cfg.max_epochs=1', 'optim_wrapper.optimizer.lr=1e30',
         'auto_scale_lr.enable=False'],
        cwd=ROOT, capture_output=True, text=True, timeout=TRAIN_S)
    assert res.returncode != 0
    assert 'Non-finite loss' in res.stderr + res.stdout
    assert not glob.glob(str(work / '*.pth'))


@pytest.mark.slow
def test_vit_b_recipe_trains_on_cpu_and_resumes(tmp_path, image_folder):
    """The README's ViT-B command: 2 CPU processes, batch 2, one epoch."""
    base = tmp_path / 'mae_vit-b.pth'
    vit = random_vit(arch='b', img_size=224, patch_size=16)
    torch.save(layouts(vit)['mae'][0], base)
    data = export_image_folder(str(tmp_path / 'imagenet'), per_class=1,
                               size=64)
    config = 'configs/tec_vit-b_800e_in1k.py'
    work = tmp_path / 'vit_b'
    extra = ['train_dataloader.batch_size=2',
             'train_dataloader.num_workers=2']
    train(work, base, data, 1, config=config, gpus=2, extra=extra)
    assert os.path.isfile(work / 'epoch_1.pth')
    assert logged(str(work), 'loss_attention')
    train(work, base, data, 2, config=config, gpus=2, resume=True,
          extra=extra)
    assert os.path.isfile(work / 'epoch_2.pth')


@pytest.mark.slow
def test_logs_feed_plot_loss_curve_and_tensorboard(tmp_path, image_folder,
                                                   tiny_base):
    work = tmp_path / 'work'
    train(work, tiny_base, image_folder, 1)
    scalars, = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    losses = [json.loads(line)['loss'] for line in open(scalars)]
    assert len(losses) == 5  # 20 images, batch 4, logged every iteration

    spec = importlib.util.spec_from_file_location(
        'plot_loss_curve',
        os.path.join(ROOT, 'tools', 'visualization', 'plot_loss_curve.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    series = tool.read_scalars(tool.json_files(str(work)))
    assert [v for _, v in series['loss']] == pytest.approx(losses)
    tool.main([str(work), '--out', str(tmp_path / 'loss.png')])
    assert os.path.getsize(tmp_path / 'loss.png') > 0

    events = glob.glob(str(work / '*' / 'vis_data' / 'events.out.tfevents*'))
    if importlib.util.find_spec('tensorboard') is None:
        assert events == []
        return
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    assert len(events) == 1
    acc = EventAccumulator(events[0])
    acc.Reload()
    assert [e.value for e in acc.Scalars('loss')] == pytest.approx(losses)


# --- exact resume with loader workers, mid-epoch, and on preemption --------

# the recipes' loading: worker processes that live across epochs
WORKERS = ['train_dataloader.num_workers=2',
           'train_dataloader.persistent_workers=True']
BY_ITER = ['default_hooks.checkpoint.by_epoch=False',
           'default_hooks.checkpoint.interval=3',
           'default_hooks.checkpoint.max_keep_ckpts=-1']


def final_weights(work_dir):
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        ckpt = torch.load(f.read().strip(), weights_only=False)
    return ckpt['meta']['iter'], ckpt['state_dict']


def max_difference(a, b):
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.mark.slow
def test_resume_with_persistent_workers_is_exact(tmp_path, image_folder,
                                                 tiny_base):
    """1 + 1 epochs == 2 epochs with 2 persistent workers, accumulation 2
    over 5 iterations per epoch, lr 0.05."""
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    extra = FAST_LR + WORKERS
    train(straight, tiny_base, image_folder, 2, extra=extra)
    train(split, tiny_base, image_folder, 1, extra=extra)
    res = train(split, tiny_base, image_folder, 2, resume=True, extra=extra)
    assert 'resume is not exact' not in res.stdout + res.stderr
    (ia, a), (ib, b) = final_weights(straight), final_weights(split)
    assert ia == ib == 10
    assert max_difference(a, b) == 0


@pytest.mark.slow
def test_resume_in_the_middle_of_an_epoch_is_exact(tmp_path, image_folder,
                                                   tiny_base):
    """From iter_3.pth (3 of the 5 iterations of epoch 1) with workers."""
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    extra = FAST_LR + WORKERS + BY_ITER
    train(straight, tiny_base, image_folder, 2, extra=extra)
    res = run([sys.executable, 'tools/train.py', TINY_CFG, '--work-dir',
               str(resumed), '--resume', str(straight / 'iter_3.pth'),
               '--cfg-options', f'model.target_generator.checkpoint='
               f'{tiny_base}', f'train_dataloader.dataset.data_root='
               f'{image_folder}', 'train_cfg.max_epochs=2', *extra])
    out = res.stdout + res.stderr
    assert 'resumed epoch: 0, iter: 3' in out
    # the window the 3rd iteration opened, saved and put back
    assert 'Restored the gradients accumulated in the open window at ' \
        'iteration 3' in out
    assert first_logged_iter(str(resumed)) == 4
    (ia, a), (ib, b) = final_weights(straight), final_weights(resumed)
    assert ia == ib == 10
    assert max_difference(a, b) == 0


def start(cmd, log):
    env = {**os.environ, 'PORT': str(29500 + os.getpid() % 1000 + 7)}
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def wait_for_iteration(work_dir, n, proc, timeout=300):
    """Wait until the run in ``work_dir`` has logged iteration ``n``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, 'training ended before the signal'
        if any(i >= n for i in logged(str(work_dir), 'iter')):
            return
        time.sleep(0.05)
    raise TimeoutError(f'iteration {n} not logged in {timeout} s')


def preempt_and_resume(tmp_path, image_folder, tiny_base, gpus, sig):
    extra = FAST_LR + WORKERS
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    train(straight, tiny_base, image_folder, 2, gpus=gpus, extra=extra)
    opts = [f'model.target_generator.checkpoint={tiny_base}',
            f'train_dataloader.dataset.data_root={image_folder}',
            'train_cfg.max_epochs=2', *extra]
    if gpus:
        cmd = ['bash', 'tools/dist_train.sh', TINY_CFG, str(gpus)]
    else:
        cmd = [sys.executable, 'tools/train.py', TINY_CFG]
    cmd += ['--work-dir', str(split), '--cfg-options', *opts]
    log_path = tmp_path / 'preempted.log'
    with open(log_path, 'w') as log:
        proc = start(cmd, log)
        try:
            wait_for_iteration(split, 2, proc)
            proc.send_signal(sig)
            rc = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    out = log_path.read_text()
    saved = glob.glob(str(split / 'preempted_iter_*.pth'))
    assert len(saved) == 1, out[-5000:]
    name = signal.Signals(sig).name
    assert f'Received {name}: saved {saved[0]} after iteration' in out
    assert out.count(f'Received {name}') == 1  # logged by rank 0 only
    with open(split / 'last_checkpoint') as f:
        assert f.read().strip() == saved[0]
    ckpt = torch.load(saved[0], weights_only=False)
    # 5 iterations per epoch on one process, 3 on each of two
    total = 6 if gpus else 10
    assert 2 <= ckpt['meta']['iter'] < total
    res = train(split, tiny_base, image_folder, 2, gpus=gpus, resume=True,
                extra=extra)
    assert f'--resume: resuming from {saved[0]}' in res.stdout + res.stderr
    assert not os.path.exists(saved[0])  # superseded by epoch_2.pth
    (ia, a), (ib, b) = final_weights(straight), final_weights(split)
    assert ia == ib == total
    return rc, max_difference(a, b), out


@pytest.mark.slow
def test_sigterm_saves_and_resume_is_exact(tmp_path, image_folder,
                                           tiny_base):
    rc, diff, out = preempt_and_resume(tmp_path, image_folder, tiny_base,
                                       None, signal.SIGTERM)
    assert rc == 75, out[-3000:]
    assert diff == 0


@pytest.mark.slow
def test_sigterm_to_two_processes_saves_and_resume_is_exact(
        tmp_path, image_folder, tiny_base):
    """SIGTERM to tools/dist_train.sh (torchrun passes it on): both gloo
    processes stop after the same iteration and exit with 75."""
    rc, diff, out = preempt_and_resume(tmp_path, image_folder, tiny_base,
                                       2, signal.SIGTERM)
    # torchrun fails when its processes exit with 75; the script exits
    # with 75 itself, the code to requeue on
    assert rc == 75, out[-3000:]
    assert 'exiting with code 75' in out
    # the open accumulation window is averaged over the ranks one step
    # early: equal up to float rounding
    assert diff <= 1e-6
