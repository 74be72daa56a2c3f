"""Resumable pretraining stages (the demo and the studies).

A *stage* trains one config with MMEngine's Runner in its own work dir. It
writes ``stage.json`` when it has finished; a later call with the same
settings returns that record instead of training again, a call after an
interruption resumes from MMEngine's ``last_checkpoint``.
"""
import os
import os.path as osp
import platform
import time
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from mmtec.engine.lr_schedule import warmup_cosine_lr

from .json_records import read_json, write_json

STAGE_FILE = 'stage.json'
START_FILE = 'stage_settings.json'
# sysexits.h EX_TEMPFAIL, as a preempted training run: not a failure, run
# the same command again to continue
TIME_LIMIT_EXIT_CODE = 75


class TimeLimitReached(SystemExit):
    """A study stopped at its time limit (exit code 75, no traceback)."""

    def __init__(self, message: str):
        super().__init__(TIME_LIMIT_EXIT_CODE)
        self.message = message


def check_time_limit(name: str, stop_at: Optional[float]) -> None:
    """Stop before ``name`` starts when the time limit has passed."""
    if stop_at is not None and time.time() >= stop_at:
        print(f'[{name}] time limit reached: not started (run the same '
              'command again to continue)', flush=True)
        raise TimeLimitReached(f'{name}: not started')


class _EpochEndHook(Hook):
    """Records the stage's training time after every epoch (an interrupted
    stage keeps it) and stops the run at an epoch end once ``stop_at`` has
    passed, after the epoch's checkpoint is saved (lowest priority: after
    the checkpoint hook)."""

    priority = 'LOWEST'

    def __init__(self, name, work_dir, settings, previous_wall, t0,
                 stop_at):
        self.name, self.work_dir, self.settings = name, work_dir, settings
        self.previous_wall, self.t0 = previous_wall, t0
        self.stop_at = stop_at

    def after_train_epoch(self, runner) -> None:
        write_json(osp.join(self.work_dir, START_FILE), dict(
            settings=self.settings,
            wall_s=self.previous_wall + time.time() - self.t0))
        done = runner.epoch + 1
        if (self.stop_at is not None and time.time() >= self.stop_at
                and done < runner.max_epochs):
            print(f'[{self.name}] time limit reached: stopped after epoch '
                  f'{done} of {runner.max_epochs}, saved in '
                  f'{self.work_dir} (run the same command again to '
                  'continue)', flush=True)
            raise TimeLimitReached(f'{self.name}: epoch {done}')


def pretrain_stage(name: str,
                   config: str,
                   work_dir: str,
                   epochs: int,
                   cfg_options: Optional[Dict] = None,
                   seed: int = 0,
                   warmup_epochs: float = 1,
                   amp: bool = False,
                   log_interval: Optional[int] = None,
                   keep_checkpoints: bool = False,
                   stop_at: Optional[float] = None) -> dict:
    """Train ``config`` for ``epochs`` in ``work_dir``, or reuse that run.

    Args:
        name (str): Stage name (log prefix and record).
        config (str): MMEngine config file.
        work_dir (str): The stage's own folder.
        epochs (int): Training epochs (the lr schedule is rebuilt for them:
            ``warmup_epochs`` linear warm-up from the config's start factor,
            then cosine to 0).
        cfg_options (dict, optional): Config overrides (dotted keys).
        seed (int): Random seed of the Runner. Defaults to 0.
        warmup_epochs (float): Defaults to 1; a fraction of an epoch is
            rounded down to iterations, 0 starts the cosine at once.
        amp (bool): Mixed precision (CUDA only). Defaults to False.
        log_interval (int, optional): Logger interval in iterations.
        keep_checkpoints (bool): Keep every epoch's checkpoint (for a
            learning curve), not only the last. Defaults to False.
        stop_at (float, optional): A ``time.time()`` after which the stage
            does not start, or stops at its next epoch end (checkpoint
            saved), raising :class:`TimeLimitReached`; a later call
            continues it. Defaults to None (no limit).

    Returns:
        dict: ``checkpoint``, ``epochs``, ``wall_s`` (training time of the
        run(s) that produced it), ``num_images``, ``reused``.
    """
    settings = dict(
        name=name, config=osp.abspath(config), epochs=epochs, seed=seed,
        cfg_options={k: repr(v) for k, v in (cfg_options or {}).items()},
        warmup_epochs=warmup_epochs, amp=amp)
    if keep_checkpoints:  # recorded only when set: older records still match
        settings['keep_checkpoints'] = True
    record = read_json(osp.join(work_dir, STAGE_FILE))
    started = read_json(osp.join(work_dir, START_FILE))
    for previous in (record, started):
        if previous is not None and previous.get('settings',
                                                 previous) != settings:
            raise RuntimeError(
                f'{work_dir} holds a {name!r} run with other settings '
                f'({previous.get("settings", previous)} vs {settings}). Use '
                'another --work-dir or delete that folder.')
    if record is not None and osp.isfile(record['checkpoint']):
        print(f'[{name}] finished earlier: reusing {record["checkpoint"]} '
              f'({record["wall_s"]:.0f} s of training)', flush=True)
        return dict(record, reused=True)

    check_time_limit(name, stop_at)
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = warmup_cosine_lr(
        warmup_epochs or 1, cfg.param_scheduler[0].start_factor,
        max_epochs=epochs)
    if not warmup_epochs:
        cfg.param_scheduler = cfg.param_scheduler[1:]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', interval=1,
        max_keep_ckpts=-1 if keep_checkpoints else 1)
    if log_interval:
        cfg.default_hooks.logger.interval = log_interval
    if amp and torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) and not torch.cuda.is_available():
            cfg[key]['pin_memory'] = False
    # an interrupted earlier run of the same settings continues
    previous_wall = 0.
    if started is not None and osp.isfile(
            osp.join(work_dir, 'last_checkpoint')):
        cfg.resume = True
        cfg.load_from = None
        previous_wall = started.get('wall_s', 0.)
        print(f'[{name}] resuming the interrupted run in {work_dir}',
              flush=True)
    write_json(osp.join(work_dir, START_FILE),
               dict(settings=settings, wall_s=previous_wall))

    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_EpochEndHook(name, work_dir, settings,
                                       previous_wall, t0, stop_at))
    num_images = len(runner.train_dataloader.dataset)
    runner.train()
    wall = previous_wall + time.time() - t0
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    if not osp.isfile(checkpoint):
        raise RuntimeError(f'[{name}] training ended without {checkpoint}')
    record = dict(
        settings=settings,
        name=name,
        checkpoint=osp.abspath(checkpoint),
        epochs=epochs,
        num_images=num_images,
        wall_s=wall,
        log_dir=osp.abspath(runner.log_dir),
        device=device_name(),
        date=time.strftime('%Y-%m-%d'))
    write_json(osp.join(work_dir, STAGE_FILE), record)
    return dict(record, reused=False)


def device_name() -> str:
    """A short description of the machine the numbers were measured on."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return (f'{platform.processor() or platform.machine()} CPU, '
            f'{os.cpu_count()} cores, torch threads '
            f'{torch.get_num_threads()}')
