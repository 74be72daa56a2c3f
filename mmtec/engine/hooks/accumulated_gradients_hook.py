"""Keep a half-accumulated gradient in checkpoints so resume is exact."""
import logging
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import EpochBasedTrainLoop

from mmtec.registry import HOOKS

from .resume_check_hook import train_setup

CHECKPOINT_KEY = 'accumulated_gradients'


class _DropMessage(logging.Filter):
    """Hide one log message (MMEngine's resume warning, made untrue here)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@HOOKS.register_module()
class AccumulatedGradientsHook(Hook):
    """Accumulation windows as the authors' training loop has them, and an
    exact ``--resume`` with them.

    With ``accumulative_counts=k`` MMEngine steps the optimizer every ``k``
    iterations counted over the whole run, so windows run across epoch
    ends. MAE's and TEC's loops (``engine_pretrain.py``,
    ``engine_finetune.py``) restart them with each epoch: they step after
    micro-batch ``i`` of an epoch when ``(i + 1) % k == 0`` and zero the
    gradients when an epoch begins, so the last ``iterations % k``
    micro-batches of an epoch (the 625th of 625 at ``k=2``) are computed
    and dropped. With an epoch-based loop this hook does the same: it
    counts the optim wrapper's iterations within the epoch and drops the
    gradients of an open window at the epoch's end. (With an
    iteration-based loop windows follow the run's iteration count.)

    For an exact resume it

    - stores the gradients of a window open in the middle of an epoch
      (iteration checkpoints, preemption) in the checkpoint under
      ``accumulated_gradients`` and puts them back when the run resumes
      from it;
    - drops them (with a warning) when the resumed run has another world
      size, batch size per process or ``accumulative_counts``: the partial
      gradient then averages other batches than the resumed run's window;
    - never steps with a smaller window at the end of a run (MMEngine
      would): the effective batch is always ``k`` batches.

    With several processes, each rank's partial gradient is local (no
    synchronisation until the window closes). Checkpoints saved by
    iteration in the middle of an open window of a multi-process run are
    saved without it (a warning says so), unless :meth:`sync_open_window`
    ran at that iteration (preemption does).

    Args:
        None.
    """

    priority = 'LOW'  # after the optimizer step, before checkpointing

    def __init__(self):
        self._pending: Optional[dict] = None
        self._synced_iter = -1
        self._log_filter: Optional[logging.Filter] = None

    @staticmethod
    def _optim_wrapper(runner) -> Optional[OptimWrapper]:
        wrapper = getattr(runner, 'optim_wrapper', None)
        if isinstance(wrapper, OptimWrapper) and \
                wrapper._accumulative_counts > 1:
            return wrapper
        return None

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    @staticmethod
    def _by_epoch(runner) -> bool:
        return isinstance(getattr(runner, 'train_loop', None),
                          EpochBasedTrainLoop)

    def _window_open(self, runner) -> bool:
        wrapper = self._optim_wrapper(runner)
        return wrapper is not None and \
            wrapper.inner_count % wrapper._accumulative_counts != 0

    def before_train(self, runner) -> None:
        wrapper = self._optim_wrapper(runner)
        if self._log_filter is not None:
            runner.logger.removeFilter(self._log_filter)
            self._log_filter = None
        if wrapper is None:
            return
        # Windows follow the run's iteration count only, never its end:
        # `-1` is MMEngine's own "no end" state (step every k iterations,
        # losses always divided by k).
        wrapper._max_counts = -1
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if pending['iter'] != runner.iter:  # iterations done
            return  # loaded as weights (load_from), not resumed
        changes = self._setup_changes(pending, runner)
        if changes:
            saved_counts = pending.get('accumulative_counts',
                                       wrapper._accumulative_counts)
            runner.logger.warning(
                f'The checkpoint\'s open gradient-accumulation window '
                f'({pending.get("window", pending["iter"] % saved_counts)} '
                f'of {saved_counts} '
                f'iterations) is dropped: {changes} on resume, so its '
                'partial gradient does not belong to the batches the '
                'resumed run accumulates; the resumed run does not continue '
                'the checkpoint\'s run exactly.')
            return
        params = dict(self._model(runner).named_parameters())
        unknown = sorted(set(pending['grads']) - set(params))
        if unknown:
            raise KeyError(
                f'The checkpoint holds accumulated gradients of parameters '
                f'this model does not have: {unknown[:5]}. Resume with the '
                'config the checkpoint was trained with.')
        for name, grad in pending['grads'].items():
            param = params[name]
            grad = grad.to(device=param.device, dtype=param.dtype)
            if param.grad is None:
                param.grad = grad.clone()
            else:
                param.grad.copy_(grad)
        runner.logger.info(
            f'Restored the gradients accumulated in the open window at '
            f'iteration {pending["iter"]} (accumulative_counts='
            f'{wrapper._accumulative_counts}).')

    @staticmethod
    def _setup_changes(pending: dict, runner) -> str:
        """What differs between the run that saved ``pending`` and this
        one among world size, batch size and accumulative_counts ('' when
        nothing; a value the checkpoint lacks counts as unchanged)."""
        now = train_setup(runner)
        return ', '.join(
            f'{key} changes from {pending[key]} to {value}'
            for key, value in now.items()
            if key in pending and pending[key] != value)

    def sync_open_window(self, runner) -> None:
        """Replace each rank's partial gradients by their mean, so that the
        next checkpoint saves the open window of a multi-process run.

        Collective: every rank must call it (at the same iteration).
        """
        if get_world_size() == 1 or not self._window_open(runner):
            return
        world = get_world_size()
        for param in self._model(runner).parameters():
            if param.grad is not None:
                all_reduce(param.grad)
                param.grad.div_(world)
        self._synced_iter = runner.iter

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        wrapper = self._optim_wrapper(runner)
        if wrapper is not None and self._by_epoch(runner):
            # windows restart with each epoch: the wrapper steps after
            # batch i when (i + 1) % k == 0 (and syncs ranks before it)
            wrapper._inner_count = batch_idx

    def after_train_epoch(self, runner) -> None:
        wrapper = self._optim_wrapper(runner)
        if wrapper is None:
            return
        if self._by_epoch(runner):
            if self._window_open(runner):
                # the authors' loop zeroes these when the next epoch begins
                wrapper.zero_grad()
            wrapper._inner_count = 0
        else:
            # collective: every rank runs this, unlike before_save_checkpoint
            self.sync_open_window(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._window_open(runner):
            return
        wrapper = self._optim_wrapper(runner)
        if get_world_size() > 1 and self._synced_iter != runner.iter:
            runner.logger.warning(
                'Checkpoint saved inside an open gradient-accumulation '
                'window of a multi-process run: the partial gradients are '
                'not saved and a resume from it is not exact. Save at '
                'epoch ends or at multiples of accumulative_counts.')
            return
        grads = {
            name: p.grad.detach().cpu().clone()
            for name, p in self._model(runner).named_parameters()
            if p.grad is not None
        }
        checkpoint[CHECKPOINT_KEY] = dict(
            iter=checkpoint['meta']['iter'], grads=grads,
            window=wrapper.inner_count % wrapper._accumulative_counts,
            **train_setup(runner))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        pending = checkpoint.get(CHECKPOINT_KEY)
        if pending:
            self._pending = pending
        if (pending or self._by_epoch(runner)) and self._log_filter is None:
            # MMEngine's warning that the gradient of the iterations since
            # the last multiple of k is lost does not hold: an open window
            # is restored in before_train, and an epoch-based loop's windows
            # restart with each epoch
            self._log_filter = _DropMessage(
                'Resumed iteration number is not divisible')
            runner.logger.addFilter(self._log_filter)
