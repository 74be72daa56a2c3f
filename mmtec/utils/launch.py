"""Config adjustments shared by the launch tools."""
import math

import torch
from mmengine.config import Config
from mmengine.logging import print_log


def adapt_to_cpu(cfg: Config) -> None:
    """Run a GPU recipe on a machine without CUDA instead of failing."""
    if cfg.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper':
        print_log('No CUDA device: training in fp32 (OptimWrapper) instead '
                  'of AmpOptimWrapper.', logger='current')
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
        cfg.optim_wrapper.pop('dtype', None)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(name):
            cfg[name]['pin_memory'] = False
    if cfg.launcher != 'none':
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False)
        wrapper['device_ids'] = None  # CPU DDP takes no device ids
        cfg.model_wrapper_cfg = wrapper
        if cfg.launcher == 'pytorch' and \
                not torch.distributed.is_initialized():
            # MMEngine's init calls torch.cuda.set_device, which fails
            # without a GPU; set the gloo group up here instead.
            torch.distributed.init_process_group(backend='gloo')


def scale_lr_for_accumulation(cfg: Config) -> None:
    """Count gradient accumulation in the batch used to scale the lr.

    ``auto_scale_lr.base_batch_size`` is the effective batch the config's lr
    is meant for; MMEngine compares it with world_size x batch_size only, so
    divide it by the accumulation steps.
    """
    auto_scale = cfg.get('auto_scale_lr')
    accum = cfg.get('optim_wrapper', {}).get('accumulative_counts', 1)
    if auto_scale and auto_scale.get('enable', False) and accum > 1:
        auto_scale.base_batch_size = auto_scale.base_batch_size / accum


def fit_dataloaders_to_workers(cfg: Config) -> None:
    """Let ``num_workers=0`` (the usual debugging override) just work.

    Torch refuses ``persistent_workers=True`` and a ``prefetch_factor``
    without worker processes; the recipes set both for speed.
    """
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader and loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
            loader.pop('prefetch_factor', None)


def check_learning_rates(cfg: Config) -> None:
    """Refuse a non-finite or negative learning rate before any work."""
    wrapper = cfg.get('optim_wrapper') or {}
    optimizers = {'optim_wrapper': wrapper} if 'optimizer' in wrapper else {
        f'optim_wrapper.{k}': v
        for k, v in wrapper.items() if isinstance(v, dict) and 'optimizer' in v
    }
    for where, ow in optimizers.items():
        lr = ow['optimizer'].get('lr')
        if lr is None:
            continue
        if not isinstance(lr, (int, float)) or not math.isfinite(lr) \
                or lr < 0:
            raise ValueError(
                f'{where}.optimizer.lr={lr!r}: the learning rate must be a '
                'finite number >= 0. Check the config and --cfg-options.')
