"""A hook the end-to-end tests register to read times and metrics."""
import time

from mmengine.hooks import Hook


class IterTimer(Hook):
    """Records the wall time of each training iteration and val metrics."""

    def __init__(self):
        self.times, self.metrics = [], None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._t = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.times.append(time.perf_counter() - self._t)

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics
