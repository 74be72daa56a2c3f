"""Save and restore every rank's random state so ``--resume`` is exact."""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook

from mmtec.registry import HOOKS
from mmtec.utils.resume import check_loaded_checkpoint


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Keep the python, numpy and torch RNG states in checkpoints.

    MMEngine re-seeds a resumed run from the config seed, so the masks TEC
    draws (and any augmentation run in the main process) would differ from
    an uninterrupted run. This hook stores each rank's states in the
    checkpoint meta and puts them back on resume. Dataloader workers are
    seeded by MMEngine per worker as before.

    Only rank 0 writes checkpoints, so the states of all ranks are gathered
    at the end of each epoch, just before the checkpoint hook runs; runs
    that save checkpoints by iteration store rank 0's state only when
    training on one process.

    The states are stored as plain data (see :meth:`to_plain`); checkpoints
    that hold numpy's tuple (saved before) are read as well.
    """

    priority = 'LOW'  # after the model/optimizer hooks, before checkpointing

    def __init__(self):
        self._states = None

    @staticmethod
    def to_plain(state: dict) -> dict:
        """One rank's states as plain data (no numpy objects).

        numpy's MT19937 state is stored in numpy's own dict layout
        (``np.random.get_state(legacy=False)``) with its key as an int64
        tensor, so ``torch.load(..., weights_only=True)`` reads it.

        Args:
            state (dict): ``python``, ``numpy`` and ``torch`` (and ``cuda``)
                states as :meth:`_capture` returns them.

        Returns:
            dict: The same states, numpy's as plain data.
        """
        name, key, pos, has_gauss, gauss = state['numpy']
        numpy = dict(
            bit_generator=str(name),
            state=dict(key=torch.from_numpy(key.astype(np.int64)),
                       pos=int(pos)),
            has_gauss=int(has_gauss),
            gauss=float(gauss))
        return {**state, 'numpy': numpy}

    @staticmethod
    def _numpy_state(numpy):
        """What ``np.random.set_state`` takes, from the plain form or from
        the numpy tuple of checkpoints saved before it."""
        if isinstance(numpy, tuple):
            return numpy
        key = numpy['state']['key']
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return dict(numpy, state=dict(
            numpy['state'], key=np.asarray(key, dtype=np.uint32)))

    @staticmethod
    def _capture() -> dict:
        state = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state())
        if torch.cuda.is_available():
            state['cuda'] = torch.cuda.get_rng_state()
        return state

    def after_train_epoch(self, runner) -> None:
        # collective: every rank runs this, unlike before_save_checkpoint
        self._states = (runner.iter, all_gather_object(self._capture())
                        if get_world_size() > 1 else [self._capture()])

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._states is not None and self._states[0] == runner.iter:
            states = self._states[1]
        elif get_world_size() == 1:
            states = [self._capture()]
        else:
            return
        checkpoint.setdefault('meta', {})['rng_states'] = [
            self.to_plain(state) for state in states]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # a list, or a dict without meta given to --resume: one clear error
        check_loaded_checkpoint(
            checkpoint, getattr(runner, '_load_from', None) or 'checkpoint',
            resume=bool(getattr(runner, '_resume', False)))
        states = checkpoint.get('meta', {}).get('rng_states')
        if not states:
            return
        if len(states) != get_world_size():
            runner.logger.warning(
                f'Checkpoint holds RNG states of {len(states)} ranks, this '
                'run '
                f'has {get_world_size()}: random states are not restored.')
            return
        state = states[get_rank()]
        random.setstate(state['python'])
        np.random.set_state(self._numpy_state(state['numpy']))
        # a resume maps the checkpoint to the training device
        torch.set_rng_state(state['torch'].cpu())
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state['cuda'].cpu())
        runner.logger.info(
            f'Restored the random states of {len(states)} rank(s) saved at '
            f'iteration {checkpoint.get("meta", {}).get("iter")}.')
