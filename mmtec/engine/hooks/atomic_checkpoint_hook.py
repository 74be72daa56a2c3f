"""Checkpoint saving that a crash or a full disk cannot turn into lost work."""
import glob
import os
import os.path as osp
import shutil

import torch
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from mmtec.checkpoint import (
    TMP_SUFFIX,
    from_plain,
    fsync_replace,
    to_plain,
    write_text_atomically,
)
from mmtec.registry import HOOKS

# Optimizer state tensors kept per parameter, for the size estimate before
# the optimizer has taken its first step (its state is created lazily).
_STATE_SLOTS = {'SGD': 1, 'Adagrad': 1, 'RMSprop': 1}
_DEFAULT_SLOTS = 2  # Adam, AdamW, Lamb, ...: two moments


def checkpoint_bytes(model: torch.nn.Module,
                     optimizer,
                     with_gradients: bool = False) -> int:
    """Estimate the size of a training checkpoint of ``model``.

    Counts the model's state dict (what is saved, e.g. without TEC's base
    model), the optimizer state (the tensors already there after a resume,
    else ``slots`` x the bytes of the trainable parameters) and, with
    ``with_gradients``, one gradient per trainable parameter (an open
    gradient-accumulation window, see ``AccumulatedGradientsHook``).
    """
    model_bytes = sum(t.numel() * t.element_size()
                      for t in model.state_dict().values()
                      if torch.is_tensor(t))
    if with_gradients:
        model_bytes += sum(p.numel() * p.element_size()
                           for p in model.parameters() if p.requires_grad)
    if optimizer is None:
        return model_bytes
    states = [
        t for s in optimizer.state.values() for t in s.values()
        if torch.is_tensor(t)
    ]
    if states:
        return model_bytes + sum(t.numel() * t.element_size() for t in states)
    slots = _STATE_SLOTS.get(type(optimizer).__name__, _DEFAULT_SLOTS)
    if type(optimizer).__name__ == 'SGD' and not any(
            g.get('momentum', 0) for g in optimizer.param_groups):
        slots = 0
    trainable = sum(p.numel() * p.element_size()
                    for g in optimizer.param_groups for p in g['params']
                    if p.requires_grad)
    return model_bytes + slots * trainable


def _size(n: float) -> str:
    return f'{n / 2**30:.2f} GiB' if n >= 2**30 else f'{n / 2**20:.1f} MiB'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves survive a crash at any moment.

    MMEngine's hook deletes the oldest checkpoint *before* writing the new
    one, writes the new file in place and then rewrites ``last_checkpoint``
    in place: a crash during the write leaves a truncated ``.pth`` and,
    with ``max_keep_ckpts=1``, no checkpoint at all. Here, for local
    folders:

    - each checkpoint is written to ``<name>.tmp`` in the same folder,
      flushed to disk and renamed into place;
    - ``last_checkpoint`` is replaced the same way, after the checkpoint;
    - outdated checkpoints are removed only after both;
    - with ``save_best``, the new best checkpoint is written the same way
      and the previous best is removed only once the new one is in place
      (MMEngine removes it first);
    - ``*.tmp`` files left by an interrupted save are removed at start;
    - before the first iteration, the free space of the folder is checked
      for ``max_keep_ckpts + 1`` checkpoints of this model (one when all
      are kept), so a full disk stops the run at once, not after the
      first interval of training.

    Other storage backends are saved as by ``CheckpointHook``.

    Every checkpoint, whatever the backend, is saved as plain data (tensors,
    numbers, strings, lists, tuples and dicts; see
    :mod:`mmtec.checkpoint.plain_data`), so ``torch.load(path,
    weights_only=True)`` reads it; the message hub's ``HistoryBuffer``
    objects and numpy values come back when a run loads it. This hook has
    the lowest priority, so it converts what the other hooks added in
    ``before_save_checkpoint``; in ``after_load_checkpoint`` the hooks
    before it see the plain form of those values (mmtec's hooks read their
    own entries, which are plain data already).

    Args:
        check_free_space (bool): Check the free space before training.
            Defaults to True.
        **kwargs: The arguments of :class:`mmengine.hooks.CheckpointHook`
            (``interval``, ``max_keep_ckpts``, ``by_epoch``, ...).
    """

    def __init__(self, check_free_space: bool = True, **kwargs):
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
            # written by MMEngine's own CheckpointHook: the loader skipped
            # its message hub (objects it does not build), which holds only
            # the log history; Runner.resume needs the key
            runner.logger.warning(
                'The checkpoint has no readable message hub (written by '
                "MMEngine's CheckpointHook): resuming with an empty log "
                'history; the loop position, optimizer and schedulers are '
                'restored as usual.')
            checkpoint['message_hub'] = dict(
                log_scalars={}, runtime_info={}, resumed_keys={})

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not (self._is_local() and is_main_process()):
            return
        patterns = [self.filename_tmpl.format('*') + TMP_SUFFIX,
                    'best_*' + TMP_SUFFIX]
        leftovers = [
            path for pattern in patterns
            for path in glob.glob(osp.join(self.out_dir, pattern))
        ] + glob.glob(
            osp.join(runner.work_dir, 'last_checkpoint' + TMP_SUFFIX))
        for path in leftovers:
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
        kept = 0
        if self.max_keep_ckpts > 0:
            paths = [
                osp.join(self.out_dir, self.filename_tmpl.format(step))
                for step in self.keep_ckpt_ids
            ]
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

    def _save_atomically(self, runner, filename, meta, **kwargs) -> bool:
        """Save ``filename`` in ``out_dir`` as ``<filename>.tmp`` and rename
        it into place; True on the main process (where the file is)."""
        runner.save_checkpoint(
            self.out_dir,
            filename + TMP_SUFFIX,
            self.file_client_args,
            meta=meta,
            backend_args=self.backend_args,
            **kwargs)
        if not is_main_process():
            return False
        path = osp.join(self.out_dir, filename)
        fsync_replace(path + TMP_SUFFIX, path)
        return True

    def save_now(self, runner, filename: str) -> str:
        """Save the training state after the current iteration as
        ``filename`` in ``out_dir``, atomically, and name it in
        ``last_checkpoint``; outside the ``max_keep_ckpts`` rotation.

        Call it from ``after_train_iter`` on every rank (as the periodic
        saves are); used on preemption.

        Returns:
            str: The checkpoint's path.
        """
        path = self.file_backend.join_path(self.out_dir, filename)
        if self._is_local():
            if self._save_atomically(
                    runner, filename, {},
                    save_optimizer=self.save_optimizer,
                    save_param_scheduler=self.save_param_scheduler,
                    by_epoch=False, **self.args):
                write_text_atomically(
                    osp.join(runner.work_dir, 'last_checkpoint'), path)
        else:
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                by_epoch=False, backend_args=self.backend_args, **self.args)
            if is_main_process():
                with open(osp.join(runner.work_dir, 'last_checkpoint'),
                          'w') as f:
                    f.write(path)
        return path

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # saved inside the new checkpoint, so set before writing it
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not self._save_atomically(
                runner, filename, meta, save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                by_epoch=self.by_epoch, **self.args):
            return
        write_text_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in outdated:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """Write a new best checkpoint before removing the previous one.

        The same bookkeeping as :class:`CheckpointHook` (``best_score`` and
        ``best_ckpt`` in the message hub, one best file per key indicator),
        but a crash during the save leaves the previous best in place.
        """
        if not (self.save_best and self._is_local()):
            return super()._save_best_checkpoint(runner, metrics)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        step = runner.epoch if self.by_epoch else runner.iter
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        single = len(self.key_indicators) == 1
        updated = False
        for key, rule in zip(self.key_indicators, self.rules):
            suffix = '' if single else f'_{key}'
            best = runner.message_hub.get_info('best_score' + suffix,
                                               self.init_value_map[rule])
            score = metrics[key]
            if score is None or not self.is_better_than[key](score, best):
                continue
            updated = True
            runner.message_hub.update_info('best_score' + suffix, score)
            old = (self.best_ckpt_path
                   if single else self.best_ckpt_path_dict.get(key))
            name = f'best_{key}_{self.filename_tmpl.format(step)}'.replace(
                '/', '_')
            new = osp.join(self.out_dir, name)
            if single:
                self.best_ckpt_path = new
            else:
                self.best_ckpt_path_dict[key] = new
            runner.message_hub.update_info('best_ckpt' + suffix, new)
            if self._save_atomically(
                    runner, name, meta, save_optimizer=False,
                    save_param_scheduler=False, by_epoch=False):
                if old and old != new and osp.isfile(old):
                    os.remove(old)
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key} at '
                f'{"epoch" if self.by_epoch else "iter"} {step} is saved '
                f'to {name}.')
        # save the latest checkpoint again: it now records the new best
        # (as CheckpointHook does, so that a resumed run can remove it)
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
