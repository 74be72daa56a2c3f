"""Keep the compute a training run spends on record."""
import json
import os.path as osp
import time

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from torch.utils.flop_counter import FlopCounterMode

from mmtec.checkpoint import write_atomically
from mmtec.registry import HOOKS

_STATE_KEY = 'compute_record'


def base_model_compute(cfg) -> dict:
    """The base model's own pretraining compute (an estimate): the config's
    ``base_model_compute`` (``name``, ``checkpoint``,
    ``pretraining_pflops_estimate``, ``source``) when the run loads that
    ``checkpoint`` (``model.target_generator.checkpoint``), else unknown.

    Args:
        cfg (Config | dict): The run's config.
    """
    loaded = ((cfg.get('model') or {}).get('target_generator')
              or {}).get('checkpoint')
    given = cfg.get('base_model_compute')
    unknown = dict(name=None, pretraining_pflops_estimate=None,
                   source='the config gives no base_model_compute')
    if loaded is not None:
        unknown['checkpoint'] = loaded
    if not given:
        return unknown
    if given.get('checkpoint') != loaded:
        unknown['source'] = (
            f'not the base of the recipe ({given.get("name")}, '
            f'{given.get("checkpoint")}): its pretraining compute is not '
            'known')
        return unknown
    return dict(unknown, name=given.get('name'),
                pretraining_pflops_estimate=given.get(
                    'pretraining_pflops_estimate'),
                source=given.get('source'))


@HOOKS.register_module()
class ComputeRecordHook(Hook):
    """Log the model FLOPs and device time of a run; write a summary.

    Model FLOPs: those of the first training iteration (forward + backward,
    ``FlopCounterMode``) per image, times the images trained (all ranks).
    Device time: wall time times the processes. Both continue across
    ``--resume`` (message hub). Every ``interval`` iterations the totals
    are logged; after each epoch ``out_file`` in the work dir holds them
    with img/s, the device and :func:`base_model_compute`.

    Args:
        interval (int): Log every ``interval`` iterations. Defaults to 50.
        out_file (str): Summary file name in the work dir. Defaults to
            'compute.json'.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: int = 50, out_file: str = 'compute.json'):
        self.interval = interval
        self.out_file = out_file
        self._counter, self._batch = None, 0
        self.state = dict(flops_per_image=None, images=0, device_seconds=0.)
        self._base = base_model_compute({})

    def before_train(self, runner) -> None:
        self._base = base_model_compute(getattr(runner, 'cfg', None) or {})
        saved = runner.message_hub.get_info(_STATE_KEY)
        if saved:
            self.state.update(saved)
        self._last = time.perf_counter()

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        inputs = data_batch['inputs'] if isinstance(data_batch, dict) \
            else data_batch
        if isinstance(inputs, (list, tuple)) and inputs and \
                isinstance(inputs[0], (list, tuple)):
            inputs = inputs[0]  # several views: the first
        self._batch = len(inputs) if data_batch else 0
        if self.state['flops_per_image'] is None and self._counter is None:
            # the counted iteration runs eagerly (same operations): a
            # dispatch mode and torch.compile do not mix
            self._paused_compile = [(m, m.compile_cfg)
                                    for m in runner.model.modules()
                                    if getattr(m, 'compile_cfg', False)]
            for m, _ in self._paused_compile:
                m.compile_cfg = False
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            flops = self._counter.get_total_flops()
            self._counter = None
            for m, cfg in self._paused_compile:
                m.compile_cfg = cfg
            if self._batch:
                self.state['flops_per_image'] = flops / self._batch
        now = time.perf_counter()
        world = get_world_size()
        self.state['device_seconds'] += (now - self._last) * world
        self._last = now
        self.state['images'] += self._batch * world
        runner.message_hub.update_info(_STATE_KEY, dict(self.state))
        if self.every_n_train_iters(runner, self.interval):
            s = self.summary(runner)
            runner.logger.info(
                f"compute: {s['model_pflops']:.4g} PFLOPs of model "
                f"computation, {s['device_hours']:.4g} device-hours, "
                f"{s['img_per_s']:.1f} img/s")

    def summary(self, runner) -> dict:
        """The summary written to ``out_file``."""
        st = self.state
        per_image = st['flops_per_image'] or 0.
        pflops = per_image * st['images'] / 1e15
        base_pflops = self._base['pretraining_pflops_estimate']
        seconds = st['device_seconds']
        return dict(
            device=torch.cuda.get_device_name()
            if torch.cuda.is_available() else
            f'CPU ({torch.get_num_threads()} threads)',
            world_size=get_world_size(), images=st['images'],
            flops_per_image=per_image,
            flops_counted='FlopCounterMode, one training iteration '
            '(forward + backward) on the first batch',
            model_pflops=pflops, device_hours=seconds / 3600,
            img_per_s=st['images'] / seconds * get_world_size()
            if seconds else 0.,
            base_model=self._base,
            total_pflops_with_base_pretraining=pflops + base_pflops
            if base_pflops is not None else None)

    def after_train_epoch(self, runner) -> None:
        if is_main_process():
            write_atomically(
                osp.join(runner.work_dir, self.out_file),
                json.dumps(self.summary(runner), indent=1))

    after_train = after_train_epoch  # the summary once more at the end
