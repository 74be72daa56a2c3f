"""Checkpoint saving that a crash or a full disk cannot turn into lost work."""
import glob
import os
import os.path as osp
import shutil

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import register_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from mmtec.checkpoint import (
    TMP_SUFFIX,
    from_plain,
    fsync_replace,
    to_plain,
    write_atomically,
)
from mmtec.registry import HOOKS

ATOMIC_BACKEND = 'mmtec_atomic_local'
# optimizer state tensors per parameter, before the first step creates them
_STATE_SLOTS = {'SGD': 1, 'Adagrad': 1, 'RMSprop': 1}
_DEFAULT_SLOTS = 2  # Adam, AdamW, Lamb, ...: two moments


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """Local files written whole (``<path>.tmp``, flushed, renamed); a
    ``remove`` waits until the next ``put`` is in place (``CheckpointHook``
    removes the old checkpoint before it writes the new one)."""

    pending = []  # class-wide: the hook and the runner each build a backend

    def put(self, obj: bytes, filepath) -> None:
        tmp = str(filepath) + TMP_SUFFIX
        super().put(obj, tmp)
        fsync_replace(tmp, str(filepath))
        while self.pending:
            path = self.pending.pop()
            if osp.abspath(path) != osp.abspath(filepath) and osp.isfile(path):
                os.remove(path)

    def remove(self, filepath) -> None:
        self.pending.append(str(filepath))


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors
               if torch.is_tensor(t))


def checkpoint_bytes(model: torch.nn.Module,
                     optimizer,
                     with_gradients: bool = False) -> int:
    """Estimate the size in bytes of a training checkpoint of ``model``.

    Args:
        model (nn.Module): The model; its state dict is what is saved.
        optimizer (Optimizer, optional): Its state tensors when it has
            stepped, else its slots per trainable parameter.
        with_gradients (bool): Add one gradient per trainable parameter
            (an open gradient-accumulation window).
    """
    size = _bytes(model.state_dict().values())
    if with_gradients:
        size += _bytes(p for p in model.parameters() if p.requires_grad)
    if optimizer is None:
        return size
    states = _bytes(t for s in optimizer.state.values() for t in s.values())
    if states:
        return size + states
    name = type(optimizer).__name__
    slots = _STATE_SLOTS.get(name, _DEFAULT_SLOTS)
    if name == 'SGD' and not any(
            g.get('momentum', 0) for g in optimizer.param_groups):
        slots = 0
    return size + slots * _bytes(p for g in optimizer.param_groups
                                 for p in g['params'] if p.requires_grad)


def _size(n: float) -> str:
    return f'{n / 2**30:.2f} GiB' if n >= 2**30 else f'{n / 2**20:.1f} MiB'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves survive a crash at any moment.

    For local folders it saves through :class:`AtomicLocalBackend` (the
    default ``backend_args``): checkpoints (best ones too) are renamed into
    place whole, outdated ones removed only after that. It removes the
    ``*.tmp`` of an interrupted save and checks the free space for
    ``max_keep_ckpts + 1`` checkpoints before the first iteration. The
    checkpoints are plain data (:mod:`mmtec.checkpoint.plain_data`), which
    torch's weights-only loading reads as well.

    Args:
        check_free_space (bool): Check the free space before training.
            Defaults to True.
        **kwargs: The arguments of :class:`mmengine.hooks.CheckpointHook`
            (``interval``, ``max_keep_ckpts``, ``by_epoch``, ...).
    """

    def __init__(self, check_free_space: bool = True, **kwargs):
        if kwargs.get('backend_args') is None and \
                kwargs.get('file_client_args') is None and \
                '://' not in str(kwargs.get('out_dir') or ''):
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
        super().__init__(**kwargs)
        self.check_free_space = check_free_space

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        plain = to_plain(checkpoint)
        checkpoint.clear()
        checkpoint.update(plain)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # before Runner.resume reads `meta` and `message_hub`
        restored = from_plain(checkpoint)
        if restored is not checkpoint:
            checkpoint.clear()
            checkpoint.update(restored)
        if 'meta' in checkpoint and 'message_hub' not in checkpoint:
            # MMEngine's own hook saved objects the safe loader skips
            runner.logger.warning(
                'The checkpoint has no readable message hub (written by '
                "MMEngine's CheckpointHook): resuming with an empty log "
                'history; everything else is restored as usual.')
            checkpoint['message_hub'] = dict(
                log_scalars={}, runtime_info={}, resumed_keys={})

    def is_local(self) -> bool:
        """Whether saves go through :class:`AtomicLocalBackend`."""
        return isinstance(self.file_backend, AtomicLocalBackend)

    def before_train(self, runner) -> None:
        AtomicLocalBackend.pending.clear()  # none of an earlier run
        super().before_train(runner)
        if not (self.is_local() and is_main_process()):
            return
        patterns = [osp.join(self.out_dir, self.filename_tmpl.format('*')),
                    osp.join(self.out_dir, 'best_*'),
                    osp.join(runner.work_dir, 'last_checkpoint')]
        for path in [p for pattern in patterns
                     for p in glob.glob(pattern + TMP_SUFFIX)]:
            runner.logger.warning(
                f'Removing {path}: an incomplete checkpoint left by a save '
                'that was interrupted.')
            os.remove(path)
        if self.check_free_space:
            self._check_free_space(runner)

    def _check_free_space(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        optimizer = getattr(runner.optim_wrapper, 'optimizer',
                            None) if self.save_optimizer else None
        accumulates = getattr(runner.optim_wrapper, '_accumulative_counts',
                              1) > 1
        size = checkpoint_bytes(model, optimizer, with_gradients=accumulates)
        count = self.max_keep_ckpts + 1 if self.max_keep_ckpts > 0 else 1
        # checkpoints already kept will be replaced, their space counts
        paths = [osp.join(self.out_dir, self.filename_tmpl.format(step))
                 for step in getattr(self, 'keep_ckpt_ids', [])]
        kept = sum(osp.getsize(p) for p in paths if osp.isfile(p))
        os.makedirs(self.out_dir, exist_ok=True)
        free = shutil.disk_usage(self.out_dir).free
        needed = count * size
        if free + kept < needed:
            raise OSError(
                f'Not enough free disk space for checkpoints in '
                f'{self.out_dir}: {_size(free)} free'
                + (f' (+ {_size(kept)} of checkpoints to be replaced)'
                   if kept else '') +
                f', {_size(needed)} needed for {count} checkpoint(s) of '
                f'about {_size(size)} each (max_keep_ckpts='
                f'{self.max_keep_ckpts} kept + 1 being written; model, '
                'optimizer state and accumulated gradients). Free '
                'space, choose another --work-dir, or lower '
                'default_hooks.checkpoint.max_keep_ckpts.')
        runner.logger.info(
            f'Free space in {self.out_dir}: {_size(free)}; {count} '
            f'checkpoint(s) of about {_size(size)} need {_size(needed)}.')

    def save_now(self, runner, filename: str) -> str:
        """Save the training state as ``filename`` in ``out_dir`` (outside
        the rotation) and name it in ``last_checkpoint``, on every rank.

        Args:
            runner (Runner): The runner.
            filename (str): The checkpoint's file name.

        Returns:
            str: The checkpoint's path.
        """
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            by_epoch=False, backend_args=self.backend_args, **self.args)
        path = self.file_backend.join_path(self.out_dir, filename)
        if is_main_process():
            write_atomically(
                osp.join(runner.work_dir, 'last_checkpoint'), path)
        return path
