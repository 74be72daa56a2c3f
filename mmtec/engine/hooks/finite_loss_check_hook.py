"""Stop training on a NaN/inf loss before a bad checkpoint is written."""
import math
from typing import Optional

from mmengine.hooks import Hook

from mmtec.registry import HOOKS


@HOOKS.register_module()
class FiniteLossCheckHook(Hook):
    """Raise a clear error as soon as a logged loss is not finite.

    Runs before the checkpoint hook (higher priority), so the run stops
    without saving the diverged weights and the last good checkpoint stays
    what ``--resume`` picks up.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        values = {k: float(v) for k, v in outputs.items()
                  if k.startswith('loss')}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} '
                f'(epoch {runner.epoch + 1}): {bad}. Training stopped and no '
                'checkpoint of this state was saved. Usual causes: learning '
                'rate too high for the batch size, fp16 overflow (try '
                'optim_wrapper.type=OptimWrapper or bf16), or a corrupt base '
                'checkpoint. Resume from the last good checkpoint with '
                '--resume after fixing the cause.')
