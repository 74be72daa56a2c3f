"""Keep the compute a training run spends on record."""
import json
import os.path as osp
import time
from typing import Optional

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from torch.utils.flop_counter import FlopCounterMode

from mmtec.checkpoint import write_text_atomically
from mmtec.registry import HOOKS

_STATE_KEY = 'compute_record'
IMAGENET_TRAIN_IMAGES = 1281167


def base_model_compute(config_file: Optional[str],
                       metafile: Optional[str],
                       checkpoint: Optional[str] = None) -> dict:
    """The base model's own pretraining compute, from the metafile entry
    whose ``Pretraining Config`` is ``config_file`` (an estimate).

    Args:
        config_file (str, optional): The run's config file.
        metafile (str, optional): The metafile with the base models.
        checkpoint (str, optional): The base the run loaded
            (``model.target_generator.checkpoint``); when it is not the one
            ``config_file`` names, the entry is not this run's base and its
            compute is unknown.
    """
    unknown = dict(name=None, pretraining_pflops_estimate=None,
                   source='config not found in the metafile')
    if checkpoint is not None:
        unknown['checkpoint'] = checkpoint
    if not config_file or not metafile or not osp.isfile(metafile):
        return unknown
    import yaml
    with open(metafile) as f:
        models = yaml.safe_load(f).get('Models', [])
    for model in models:
        meta = model.get('Metadata', {})
        pre = meta.get('Pretraining Config')
        if not pre or osp.basename(pre) != osp.basename(config_file):
            continue
        if checkpoint is not None:
            from mmengine.config import Config
            recipe = Config.fromfile(config_file).get('model', {}).get(
                'target_generator', {}).get('checkpoint')
            if recipe != checkpoint:
                unknown['source'] = (
                    f'not the base of the recipe ({meta.get("Base Model")}'
                    f', {recipe}): its pretraining compute is not known')
                return unknown
        return dict(
            unknown, name=meta.get('Base Model'),
            pretraining_pflops_estimate=meta.get(
                'Base Model Pretraining PFLOPs (estimate)'),
            source=meta.get('Compute Source', metafile))
    return unknown


@HOOKS.register_module()
class ComputeRecordHook(Hook):
    """Log the model FLOPs and device time of a run; write a summary.

    The FLOPs of one training iteration (forward + backward, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` on the first batch this
    process trains) divided by its batch size give the FLOPs per image;
    times the images trained (all ranks) they give the run's model FLOPs.
    Device time is wall time from the start of training times the number
    of processes (each holds one device). Both continue across
    ``--resume`` (kept in the message hub, which checkpoints save).

    Every ``interval`` iterations the totals are logged; after each epoch
    and at the end ``compute.json`` in the work dir holds PFLOPs,
    device-hours, img/s, the device, the base model the run loaded and,
    from the metafile when that base is the recipe's own, its pretraining
    compute (an estimate) so that a run can be compared with training a
    model from scratch.

    Args:
        interval (int): Log every ``interval`` iterations. Defaults to 50.
        metafile (str, optional): Metafile with the base models' compute,
            matched by the run's config file name; '' for none. Defaults to
            ``configs/tec/metafile.yml`` of this checkout or the installed
            package.
        out_file (str): Summary file name in the work dir. Defaults to
            'compute.json'.
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 interval: int = 50,
                 metafile: Optional[str] = None,
                 out_file: str = 'compute.json'):
        self.interval = interval
        if metafile is None:
            from mmtec.model_zoo import find_model_index, repo_path
            metafile = repo_path('configs', 'tec', 'metafile.yml') \
                if find_model_index() else ''
        self.metafile = metafile
        self.out_file = out_file
        self._counter = None
        self._batch = 0
        self.state = dict(flops_per_image=None, images=0, device_seconds=0.)
        self._base = base_model_compute(None, None)

    @staticmethod
    def _batch_size(data_batch) -> int:
        inputs = data_batch['inputs'] if isinstance(data_batch, dict) \
            else data_batch
        if isinstance(inputs, (list, tuple)) and inputs and \
                isinstance(inputs[0], (list, tuple)):
            inputs = inputs[0]  # several views: the first
        return len(inputs)

    def before_train(self, runner) -> None:
        cfg = getattr(runner, 'cfg', None) or {}
        loaded = ((cfg.get('model') or {}).get('target_generator')
                  or {}).get('checkpoint')
        self._base = base_model_compute(getattr(cfg, 'filename', None),
                                        self.metafile, loaded)
        saved = runner.message_hub.get_info(_STATE_KEY)
        if saved:
            self.state.update(saved)
        self._last = time.perf_counter()

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._batch = self._batch_size(data_batch) if data_batch else 0
        if self.state['flops_per_image'] is None and self._counter is None:
            # the counted iteration runs eagerly (same operations): a
            # dispatch mode and torch.compile do not mix
            self._paused_compile = []
            for m in runner.model.modules():
                if getattr(m, 'compile_cfg', False):
                    self._paused_compile.append((m, m.compile_cfg))
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
        st = self.state
        per_image = st['flops_per_image'] or 0.
        pflops = per_image * st['images'] / 1e15
        base = self._base
        base_pflops = base['pretraining_pflops_estimate']
        if torch.cuda.is_available():
            device = torch.cuda.get_device_name()
        else:
            device = f'CPU ({torch.get_num_threads()} threads)'
        return dict(
            device=device,
            world_size=get_world_size(),
            images=st['images'],
            flops_per_image=per_image,
            flops_counted='FlopCounterMode, one training iteration '
            '(forward + backward) on the first batch',
            model_pflops=pflops,
            device_hours=st['device_seconds'] / 3600,
            img_per_s=st['images'] / st['device_seconds'] *
            get_world_size() if st['device_seconds'] else 0.,
            base_model=base,
            total_pflops_with_base_pretraining=pflops + base_pflops
            if base_pflops is not None else None)

    def _write(self, runner) -> None:
        if not is_main_process():
            return
        write_text_atomically(
            osp.join(runner.work_dir, self.out_file),
            json.dumps(self.summary(runner), indent=1))

    def after_train_epoch(self, runner) -> None:
        self._write(runner)

    def after_train(self, runner) -> None:
        self._write(runner)
