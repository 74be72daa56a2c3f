"""Keep a half-accumulated gradient in checkpoints so resume is exact."""
import logging
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper

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
    """Make ``--resume`` exact under gradient accumulation.

    With ``accumulative_counts=k`` MMEngine steps the optimizer every ``k``
    iterations counted over the whole run, so when an epoch's iteration
    count is not a multiple of ``k`` an accumulation window is open at the
    epoch's end, when the checkpoint is saved; MMEngine does not save the
    gradients gathered so far and a resumed run steps with part of them.
    This hook

    - stores those gradients (and the iteration count they belong to) in
      the checkpoint under ``accumulated_gradients`` and puts them back
      when the run resumes from it;
    - drops them (with a warning) when the resumed run has another world
      size, batch size per process or ``accumulative_counts``: the partial
      gradient then averages other batches than the resumed run's window;
    - treats the end of a run like any other point: MMEngine would step
      there with a smaller window (a smaller effective batch); here the
      open window is kept in the last checkpoint instead, so running
      ``1 + 1`` epochs with ``--resume`` gives the same weights as ``2``
      epochs, and the effective batch is always ``k`` batches.

    With several processes, each rank's partial gradient is local (no
    synchronisation until the window closes); at the end of each epoch the
    hook replaces them by their mean on every rank, which leaves the
    synchronised step unchanged and makes rank 0's copy the one to save.
    Checkpoints saved by iteration in the middle of an open window of a
    multi-process run are saved without it (a warning says so), unless
    :meth:`sync_open_window` ran at that iteration (preemption does).

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
        if pending['iter'] != wrapper.inner_count:
            return  # loaded as weights (load_from), not resumed
        changes = self._setup_changes(pending, runner)
        if changes:
            saved_counts = pending.get('accumulative_counts',
                                       wrapper._accumulative_counts)
            runner.logger.warning(
                f'The checkpoint\'s open gradient-accumulation window '
                f'({pending["iter"] % saved_counts} of {saved_counts} '
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
        self._synced_iter = self._optim_wrapper(runner).inner_count

    def after_train_epoch(self, runner) -> None:
        # collective: every rank runs this, unlike before_save_checkpoint
        self.sync_open_window(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self._window_open(runner):
            return
        wrapper = self._optim_wrapper(runner)
        if get_world_size() > 1 and self._synced_iter != wrapper.inner_count:
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
            iter=wrapper.inner_count, grads=grads, **train_setup(runner))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        pending = checkpoint.get(CHECKPOINT_KEY)
        if not pending:
            return
        self._pending = pending
        # restored in before_train: MMEngine's warning that the gradient
        # of these iterations is lost no longer holds
        self._log_filter = _DropMessage(
            'Resumed iteration number is not divisible')
        runner.logger.addFilter(self._log_filter)
