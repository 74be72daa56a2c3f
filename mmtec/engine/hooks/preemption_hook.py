"""Checkpoint and exit when a scheduler asks a job to stop."""
import glob
import os
import os.path as osp
import signal
from functools import partial
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook

from mmtec.checkpoint import write_atomically
from mmtec.registry import HOOKS

from .atomic_checkpoint_hook import AtomicCheckpointHook
from .exact_resume_hook import ExactResumeHook

# sysexits.h EX_TEMPFAIL: "temporary failure, the user is invited to
# retry"; neither a crash (1), nor a kill by a signal (128 + n)
REQUEUE_EXIT_CODE = 75
FILENAME_TMPL = 'preempted_iter_{}.pth'


class Preempted(SystemExit):
    """Ends a preempted run with :data:`REQUEUE_EXIT_CODE` (no traceback)."""


def _shield_worker(init_fn, signals, worker_id: int) -> None:
    """A loader ``worker_init_fn`` (with ``partial``): ``init_fn``, then the
    worker leaves the rank's process group (torchrun signals the group, and
    a worker dies on a SIGTERM not from its parent) and ignores the other
    signals. SIGTERM keeps its handler: PyTorch stops workers with it."""
    if init_fn is not None:
        init_fn(worker_id)
    os.setpgrp()
    for sig in signals:
        if sig != signal.SIGTERM:
            signal.signal(sig, signal.SIG_IGN)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save the exact training state and exit on SIGTERM or SIGUSR1.

    After the iteration in which a signal came (agreed across ranks by one
    all-reduce per iteration), ``ExactResumeHook`` gathers the random
    states and open accumulation window, ``AtomicCheckpointHook.save_now``
    writes ``preempted_iter_<N>.pth`` (removed once a later checkpoint is
    saved) and the run exits with ``exit_code`` for the job script to
    requeue on. It runs after every hook (``LOWEST``), ``ExactResumeHook``
    before the checkpoint hook: two hooks. Loader workers are kept out of
    the signal (``_shield_worker``); on Slurm use ``--signal=USR1@<s>``.

    Args:
        signals (Sequence[str]): Names of the signals to act on. Defaults
            to ``('SIGTERM', 'SIGUSR1')``.
        exit_code (int): The process's exit status after the save.
            Defaults to 75.
    """

    priority = 'LOWEST'  # after the optimizer, scheduler and other hooks

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = REQUEUE_EXIT_CODE):
        unknown = [s for s in signals
                   if not isinstance(getattr(signal, str(s), None),
                                     signal.Signals)]
        if unknown:
            raise ValueError(f'PreemptionHook: unknown signal(s) {unknown}; '
                             'use names such as SIGTERM or SIGUSR1.')
        self.signals = [getattr(signal, s) for s in signals]
        self.exit_code, self._received, self._previous = exit_code, 0, {}

    def _on_signal(self, signum, frame) -> None:
        self._received = signum  # acted on after the current iteration

    def before_train(self, runner) -> None:
        self._received = 0
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        loader = runner.train_dataloader
        if getattr(loader, 'num_workers', 0) and getattr(
                loader.worker_init_fn, 'func', None) is not _shield_worker:
            loader.worker_init_fn = partial(
                _shield_worker, loader.worker_init_fn, self.signals)

    def after_train(self, runner) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        received = self._received
        if get_world_size() > 1:  # the signal any rank received
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        if not received:
            return
        name = signal.Signals(received).name
        ckpt_hook = self._hook(runner, AtomicCheckpointHook)
        if ckpt_hook is None:
            runner.logger.error(f'Received {name}: no AtomicCheckpointHook '
                                'in default_hooks.checkpoint, so nothing is '
                                f'saved; exiting with code {self.exit_code}.')
            raise Preempted(self.exit_code)
        resume_hook = self._hook(runner, ExactResumeHook)
        if resume_hook is not None:  # what epoch ends gather (collective)
            resume_hook.gather(runner)
        path = ckpt_hook.save_now(runner,
                                  FILENAME_TMPL.format(runner.iter + 1))
        barrier()  # no rank exits before the file is complete
        marker = os.environ.get('MMTEC_PREEMPTED_MARKER')
        if marker and is_main_process():
            # tools/dist_train.sh exits with the requeue code when it exists
            write_atomically(marker, path)
        runner.logger.info(
            f'Received {name}: saved {path} after iteration '
            f'{runner.iter + 1}; exiting with code {self.exit_code} '
            '(requeue the job; tools/train.py --resume continues from '
            'there exactly).')
        raise Preempted(self.exit_code)

    @staticmethod
    def _hook(runner, kind) -> Optional[Hook]:
        return next((h for h in runner.hooks if isinstance(h, kind)), None)

    def after_train_epoch(self, runner) -> None:
        # preemption checkpoints before a later save of the resumed run go
        ckpt_hook = self._hook(runner, AtomicCheckpointHook)
        if not is_main_process() or ckpt_hook is None or \
                not ckpt_hook.is_local() or ckpt_hook.last_ckpt is None:
            return
        pattern = osp.join(ckpt_hook.out_dir, FILENAME_TMPL.format('*'))
        for path in glob.glob(pattern):
            step = osp.basename(path)[len('preempted_iter_'):-len('.pth')]
            if step.isdigit() and int(step) <= runner.iter:
                runner.logger.info(f'Removing {path}: a later checkpoint '
                                   f'({ckpt_hook.last_ckpt}) is saved.')
                os.remove(path)
