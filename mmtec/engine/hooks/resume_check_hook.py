"""Say what keeps a resumed run from continuing its checkpoint's run."""
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from mmtec.registry import HOOKS

SETUP_KEY = 'train_setup'  # in the checkpoint's meta


def train_setup(runner) -> dict:
    """The settings that decide which images each optimizer step sees."""
    return dict(
        world_size=get_world_size(),
        batch_size=getattr(runner.train_dataloader, 'batch_size', None),
        accumulative_counts=getattr(runner.optim_wrapper,
                                    '_accumulative_counts', 1))


def _images_per_step(setup: dict):
    try:
        return (setup['world_size'] * setup['batch_size'] *
                setup['accumulative_counts'])
    except (KeyError, TypeError):
        return None


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Warn on ``--resume`` about whatever makes it inexact.

    Checkpoints record the world size, the batch size per process and
    ``accumulative_counts``. When a run resumes with other values, one
    WARNING per change says what changes (and the images per optimizer
    step before and after). It also warns about settings of the resumed
    run that cannot continue exactly:

    - loader workers (``num_workers > 0``) with a sampler other than
      :class:`~mmtec.datasets.SeededSampler`: the workers' random state is
      not in the checkpoint, so the augmentation differs;
    - a checkpoint from the middle of an epoch with a loop that restarts
      the epoch (MMEngine's ``EpochBasedTrainLoop``; use
      ``ResumableEpochBasedTrainLoop``);
    - a checkpoint without random states (saved by iteration in a
      multi-process run) while ``RNGStateHook`` is on.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._loaded = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[SETUP_KEY] = train_setup(runner)

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        if getattr(runner, '_resume', False) and isinstance(checkpoint, dict):
            self._loaded = checkpoint.get('meta') or {}

    def before_train(self, runner) -> None:
        meta, self._loaded = self._loaded, None
        if meta is None:
            return
        for problem in self.problems(runner, meta):
            runner.logger.warning(f'--resume is not exact: {problem}.')

    @staticmethod
    def problems(runner, meta: dict) -> list:
        """What keeps resuming from a checkpoint with ``meta`` inexact."""
        found = []
        saved, now = meta.get(SETUP_KEY), train_setup(runner)
        if isinstance(saved, dict):
            changes = [
                f'{key} changes from {saved.get(key)} to {value}'
                for key, value in now.items() if saved.get(key) != value
            ]
            if changes:
                found.append(
                    ', '.join(changes) + ' (images per optimizer step: '
                    f'{_images_per_step(saved)} -> {_images_per_step(now)}'
                    '); learning rate scaling, the data order and the '
                    'optimizer steps differ from the checkpoint\'s run')
        loader = runner.train_dataloader
        sampler = getattr(loader, 'sampler', None)
        workers = getattr(loader, 'num_workers', 0)
        if workers and not hasattr(sampler, 'skip'):
            found.append(
                f'train_dataloader.sampler is {type(sampler).__name__} with '
                f'num_workers={workers}: the loader workers\' random state '
                'is not restored, so the data augmentation differs from an '
                'uninterrupted run (use sampler=dict(type=\'SeededSampler\'))')
        loop = runner.train_loop
        per_epoch = len(loader)
        if type(loop) is EpochBasedTrainLoop and \
                loop.iter != loop.epoch * per_epoch:
            found.append(
                f'the checkpoint is from iteration {loop.iter}, inside epoch '
                f'{loop.epoch + 1}, and EpochBasedTrainLoop trains that '
                'epoch again from its first batch (use train_cfg.type='
                '\'ResumableEpochBasedTrainLoop\')')
        rng_hook = any(type(h).__name__ == 'RNGStateHook'
                       for h in runner.hooks)
        if rng_hook and not meta.get('rng_states'):
            found.append(
                'the checkpoint holds no random states (saved by iteration '
                'in a multi-process run, or by an older version), so random '
                'masks and augmentation in the main process differ')
        return found
