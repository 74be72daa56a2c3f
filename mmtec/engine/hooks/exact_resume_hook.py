"""What an exact ``--resume`` needs beyond MMEngine's checkpoint; checks."""
import logging
import random

import numpy as np
import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import EpochBasedTrainLoop

from mmtec.engine.resume import is_training_checkpoint
from mmtec.registry import HOOKS

GRADS_KEY = 'accumulated_gradients'  # in the checkpoint
SETUP_KEY = 'train_setup'  # in the checkpoint's meta


class UnmatchedCheckpointError(ValueError):
    """A ``load_from``/``--resume`` file shares no key with the model."""


def _train_setup(runner) -> dict:
    """The settings that decide which images each optimizer step sees."""
    return dict(
        world_size=dist.get_world_size(),
        batch_size=getattr(runner.train_dataloader, 'batch_size', None),
        accumulative_counts=getattr(runner.optim_wrapper,
                                    '_accumulative_counts', 1))


def _images_per_step(setup: dict):
    try:
        return (setup['world_size'] * setup['batch_size'] *
                setup['accumulative_counts'])
    except (KeyError, TypeError):
        return None


def _sample(keys, n: int = 3) -> str:
    keys = sorted(keys)
    return ', '.join(keys[:n]) + (', ...' if len(keys) > n else '')


def _model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(
        runner.model) else runner.model


def _not_divisible_warning(record: logging.LogRecord) -> bool:
    """A log filter against MMEngine's warning that a resume loses the
    gradients since the last multiple of k (untrue here)."""
    return 'iteration number is not divisible' not in record.getMessage()


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Keep in checkpoints what an exact ``--resume`` needs; check loads.

    - Every rank's python, numpy and torch random states (MMEngine
      re-seeds a resumed run), gathered at epoch ends and on preemption.
    - Accumulation windows as in MAE's and TEC's loops: with an epoch-based
      loop they restart each epoch (an epoch's last ``iterations % k``
      gradients are dropped); never a smaller window at the run's end. An
      open window's gradients are saved and restored, unless the world
      size, batch size or ``accumulative_counts`` changed (a warning).
    - Warnings on ``--resume`` about those changes and what cannot
      continue exactly (workers without ``SeededSampler``, a mid-epoch
      checkpoint with ``EpochBasedTrainLoop``, no random states).
    - A loaded object that is no (training) checkpoint is one clear
      error, and so is a load that fills none of the model's weights
      (after its own load hooks); ``allow_unmatched_checkpoint = True`` at
      the config's top level makes that a warning.
    """

    priority = 'LOW'  # after the optimizer step, before checkpointing

    def __init__(self):
        self._states = None  # (iteration, every rank's random states)
        self._pending = None  # accumulated gradients to restore
        self._loaded_meta = None  # the meta of a --resume checkpoint
        self._synced_iter = -1
        self._filtered = None  # the logger _not_divisible_warning is on

    @staticmethod
    def _capture() -> dict:
        state = dict(python=random.getstate(), numpy=np.random.get_state(),
                     torch=torch.get_rng_state())
        if torch.cuda.is_available():
            state['cuda'] = torch.cuda.get_rng_state()
        return state

    @staticmethod
    def _plain(state: dict) -> dict:
        """One rank's states, numpy's as its dict with an int64 tensor."""
        name, key, pos, has_gauss, gauss = state['numpy']
        key = torch.from_numpy(key.astype(np.int64))
        return {**state, 'numpy': dict(
            bit_generator=str(name), state=dict(key=key, pos=int(pos)),
            has_gauss=int(has_gauss), gauss=float(gauss))}

    @staticmethod
    def _restore(state: dict) -> None:
        random.setstate(state['python'])
        numpy = state['numpy']
        if isinstance(numpy, dict):  # older checkpoints hold numpy's tuple
            key = numpy['state']['key']
            key = key.cpu().numpy() if torch.is_tensor(key) else key
            numpy = dict(numpy, state=dict(
                numpy['state'], key=np.asarray(key, dtype=np.uint32)))
        np.random.set_state(numpy)
        # a resume maps the checkpoint to the training device
        torch.set_rng_state(state['torch'].cpu())
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state['cuda'].cpu())

    def gather(self, runner) -> None:
        """Take every rank's random states and average an open window's
        gradients for the next checkpoint (which rank 0 writes).
        Collective: every rank calls it (epoch ends, ``PreemptionHook``).

        Args:
            runner (Runner): The runner.
        """
        world = dist.get_world_size()
        state = self._capture()
        self._states = (runner.iter, dist.all_gather_object(state)
                        if world > 1 else [state])
        if world > 1 and self._window_open(runner):
            for grad in [p.grad for p in _model(runner).parameters()]:
                if grad is not None:
                    dist.all_reduce(grad)
                    grad.div_(world)
            self._synced_iter = runner.iter

    @staticmethod
    def _wrapper(runner):
        """The optim wrapper when it accumulates, else None."""
        wrapper = getattr(runner, 'optim_wrapper', None)
        accumulates = getattr(wrapper, '_accumulative_counts', 1) > 1
        return wrapper if isinstance(wrapper, OptimWrapper) and accumulates \
            else None

    @staticmethod
    def _by_epoch(runner) -> bool:
        return isinstance(getattr(runner, 'train_loop', None),
                          EpochBasedTrainLoop)

    def _window_open(self, runner) -> bool:
        wrapper = self._wrapper(runner)
        return wrapper is not None and \
            wrapper.inner_count % wrapper._accumulative_counts != 0

    def _restore_window(self, runner, pending: dict, wrapper) -> None:
        changes = ', '.join(
            f'{key} changes from {pending[key]} to {value}'
            for key, value in _train_setup(runner).items()
            if key in pending and pending[key] != value)
        if changes:
            counts = pending.get('accumulative_counts',
                                 wrapper._accumulative_counts)
            runner.logger.warning(
                f'The checkpoint\'s open gradient-accumulation window '
                f'({pending.get("window", pending["iter"] % counts)} of '
                f'{counts} iterations) is dropped: {changes} on resume, so '
                'its partial gradient belongs to other batches; the resumed '
                'run does not continue the checkpoint\'s run exactly.')
            return
        params = dict(_model(runner).named_parameters())
        unknown = sorted(set(pending['grads']) - set(params))
        if unknown:
            raise KeyError(f'The checkpoint holds accumulated gradients of '
                           f'parameters this model lacks: {unknown[:5]}. '
                           'Resume with the config it was trained with.')
        for name, grad in pending['grads'].items():
            param = params[name]
            param.grad = grad.to(param.device, param.dtype, copy=True)
        runner.logger.info(
            f'Restored the gradients accumulated in the open window at '
            f'iteration {pending["iter"]} (accumulative_counts='
            f'{wrapper._accumulative_counts}).')

    def before_train(self, runner) -> None:
        if self._filtered is not None:
            self._filtered.removeFilter(_not_divisible_warning)
            self._filtered = None
        meta, self._loaded_meta = self._loaded_meta, None
        for problem in self._problems(runner, meta) if meta else []:
            runner.logger.warning(f'--resume is not exact: {problem}.')
        pending, self._pending = self._pending, None
        wrapper = self._wrapper(runner)
        if wrapper is None:
            return
        # windows follow the run's iteration count, never its end: `-1` is
        # MMEngine's own "no end" state (losses always divided by k)
        wrapper._max_counts = -1
        # at another iteration: loaded as weights (load_from), not resumed
        if pending is not None and pending['iter'] == runner.iter:
            self._restore_window(runner, pending, wrapper)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        # states gathered at an epoch end carry the same runner.iter as a
        # save after this iteration: they are stale once it begins
        self._states, self._synced_iter = None, -1
        wrapper = self._wrapper(runner)
        if wrapper is not None and self._by_epoch(runner):
            # windows restart with each epoch: the wrapper steps after
            # batch i when (i + 1) % k == 0 (and syncs ranks before it)
            wrapper._inner_count = batch_idx

    def after_train_epoch(self, runner) -> None:
        wrapper = self._wrapper(runner)
        if wrapper is not None and self._by_epoch(runner):
            if self._window_open(runner):
                # the authors' loop zeroes these when the next epoch begins
                wrapper.zero_grad()
            wrapper._inner_count = 0
        self.gather(runner)  # every rank runs this, before the save

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta[SETUP_KEY] = _train_setup(runner)
        if self._states is not None and self._states[0] == runner.iter:
            meta['rng_states'] = [self._plain(s) for s in self._states[1]]
        elif dist.get_world_size() == 1:
            meta['rng_states'] = [self._plain(self._capture())]
        if not self._window_open(runner):
            return
        if dist.get_world_size() > 1 and self._synced_iter != runner.iter:
            runner.logger.warning(
                'Checkpoint saved inside an open accumulation window of a '
                'multi-process run without its partial gradients: a resume '
                'is not exact. Save at epoch ends or multiples of k.')
            return
        wrapper = self._wrapper(runner)
        checkpoint[GRADS_KEY] = dict(
            iter=meta['iter'],
            grads={name: p.grad.detach().cpu().clone()
                   for name, p in _model(runner).named_parameters()
                   if p.grad is not None},
            window=wrapper.inner_count % wrapper._accumulative_counts,
            **_train_setup(runner))

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        resume = bool(getattr(runner, '_resume', False))
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        what = '--resume' if resume else 'load_from'
        if not isinstance(checkpoint, dict):
            raise ValueError(f'{what} {source}: it holds a '
                             f'{type(checkpoint).__name__}, not the dict of '
                             'a checkpoint.')
        if resume and not is_training_checkpoint(checkpoint):
            raise ValueError(
                f'{what} {source}: it is not a training checkpoint (no meta '
                'with the iteration, or no state_dict): --resume continues '
                'from the epoch_N.pth / iter_N.pth files training writes; to '
                'start from its weights, set load_from without --resume.')
        self._check_match(runner, checkpoint, source)
        meta = checkpoint.get('meta') or {}
        if resume:
            self._loaded_meta = meta
        states = meta.get('rng_states')
        if states and len(states) != dist.get_world_size():
            runner.logger.warning(
                f'Checkpoint holds RNG states of {len(states)} ranks, this '
                f'run has {dist.get_world_size()}: they are not restored.')
        elif states:
            self._restore(states[dist.get_rank()])
            runner.logger.info(
                f'Restored the random states of {len(states)} rank(s) saved '
                f'at iteration {meta.get("iter")}.')
        self._pending = checkpoint.get(GRADS_KEY) or self._pending
        if (GRADS_KEY in checkpoint or self._by_epoch(runner)) and \
                self._filtered is None:
            # an open window is restored in before_train, and an epoch-based
            # loop's windows restart with each epoch
            self._filtered = runner.logger
            runner.logger.addFilter(_not_divisible_warning)

    @staticmethod
    def _check_match(runner, checkpoint: dict, source: str) -> None:
        """Stop (or warn) when loading ``checkpoint`` fills none of the
        model's parameters or buffers; partial matches are fine."""
        allowed = bool(runner.cfg.get('allow_unmatched_checkpoint', False))
        state = checkpoint.get('state_dict', checkpoint)
        handle = None

        # a post hook sees the keys after the model's pre hooks renamed them
        def check(module, incompatible) -> None:
            handle.remove()
            own = [k for k in module.state_dict()
                   if not k.endswith('num_batches_tracked')]
            if own and set(own) <= set(incompatible.missing_keys):
                message = (
                    f'{source}: none of its {len(state)} keys '
                    f'({_sample(state)}) is one of the model\'s {len(own)} '
                    f'({_sample(own)}); training would start from random '
                    'weights. Convert the file to this model\'s layout '
                    '(tools/model_converters/tec2vit.py) or fix load_from; '
                    'set allow_unmatched_checkpoint=True to go on anyway.')
                if not allowed:
                    raise UnmatchedCheckpointError(message)
                print_log(message, logger='current', level=logging.WARNING)

        handle = _model(runner).register_load_state_dict_post_hook(check)

    @staticmethod
    def _problems(runner, meta: dict) -> list:
        """What keeps resuming from a checkpoint with ``meta`` inexact."""
        found = []
        saved, now = meta.get(SETUP_KEY), _train_setup(runner)
        changes = [f'{key} changes from {saved.get(key)} to {value}'
                   for key, value in now.items()
                   if isinstance(saved, dict) and saved.get(key) != value]
        if changes:
            found.append(', '.join(changes) + ' (images per optimizer step: '
                         f'{_images_per_step(saved)} -> '
                         f'{_images_per_step(now)}); the learning rate, data '
                         'order and optimizer steps differ from its run')
        loader = runner.train_dataloader
        sampler = getattr(loader, 'sampler', None)
        workers = getattr(loader, 'num_workers', 0)
        if workers and not hasattr(sampler, 'skip'):
            found.append(
                f'train_dataloader.sampler is {type(sampler).__name__} with '
                f'num_workers={workers}: the workers\' random state is not '
                'restored (use sampler=dict(type=\'SeededSampler\'))')
        loop = runner.train_loop
        if type(loop) is EpochBasedTrainLoop and \
                loop.iter != loop.epoch * len(loader):
            found.append(
                f'the checkpoint is from iteration {loop.iter}, inside epoch '
                f'{loop.epoch + 1}, and EpochBasedTrainLoop trains that '
                'epoch again from its first batch (use train_cfg.type='
                '\'ResumableEpochBasedTrainLoop\')')
        if not meta.get('rng_states'):
            found.append('the checkpoint holds no random states (saved by '
                         'iteration in a multi-process run), so random masks '
                         'and augmentation differ')
        return found
