"""Config adjustments shared by the launch tools."""
import math
import os
import tempfile

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
    drop_unsupported_fused_optimizer(cfg, 'cpu')
    # the base model's weights_dtype='auto' picks bf16 or fp32 for this CPU
    # itself (TECTargetGenerator)
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


def apply_auto_scale_lr(runner, cfg: Config) -> None:
    """Scale the optimizer config's lr before the optimizer is built.

    MMEngine's ``Runner.scale_lr`` scales the built optimizer's param groups
    but not the optimizer wrapper's ``base_param_settings``, so the logged
    ``base_lr`` stays the config's unscaled lr (512x the lr in use for a
    batch of 8 against 4096). Scaling the config instead gives the same
    param-group lrs and a logged ``base_lr`` that is the one in use; the
    runner's own scaling is then turned off.

    Args:
        runner: A :class:`mmengine.runner.Runner` before ``train()``.
        cfg (Config): Its config (after :func:`scale_lr_for_accumulation`).
    """
    auto_scale = getattr(runner, 'auto_scale_lr', None)
    wrapper = getattr(runner, 'optim_wrapper', None)
    if not auto_scale or not auto_scale.get('enable', False) \
            or not isinstance(wrapper, dict):
        return
    real_bs = runner.world_size * cfg.train_dataloader.batch_size
    ratio = real_bs / auto_scale['base_batch_size']
    wrappers = [wrapper] if 'optimizer' in wrapper else [
        w for w in wrapper.values() if isinstance(w, dict) and 'optimizer' in w
    ]
    for w in wrappers:
        if w['optimizer'].get('lr') is not None:
            w['optimizer']['lr'] = w['optimizer']['lr'] * ratio
    print_log(
        f'LR is set based on batch size of {auto_scale["base_batch_size"]} '
        f'and the current batch size is {real_bs}. Scaling the original LR '
        f'by {ratio}.', logger='current')
    runner.auto_scale_lr = dict(auto_scale, enable=False)


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


def check_training_length(cfg: Config) -> None:
    """Refuse ``max_epochs``/``max_iters`` that train nothing.

    MMEngine runs a zero-epoch loop without complaint: the run "succeeds",
    saves nothing useful and the mistake shows only downstream.
    """
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        value = train_cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) \
                or value < 1:
            raise ValueError(
                f'train_cfg.{key}={value!r}: training needs a whole number '
                '>= 1. Check the config and --cfg-options.')


def fused_optimizer_supported(optimizer_type: str, device: str) -> bool:
    """Whether ``torch.optim.<optimizer_type>(fused=True)`` steps on
    ``device`` with this torch build (probed on one parameter)."""
    try:
        param = torch.zeros(1, device=device, requires_grad=True)
        optimizer = getattr(torch.optim, optimizer_type)([param], fused=True)
        param.grad = torch.ones_like(param)
        optimizer.step()
        return True
    except (RuntimeError, ValueError, TypeError, AttributeError):
        return False


def drop_unsupported_fused_optimizer(cfg: Config, device: str) -> None:
    """Fall back to the for-each optimizer where ``fused=True`` cannot run."""
    optimizer = cfg.get('optim_wrapper', {}).get('optimizer', {})
    if not optimizer.get('fused'):
        return
    if not fused_optimizer_supported(optimizer.get('type', ''), device):
        print_log(
            f'optim_wrapper.optimizer.fused=True: torch {torch.__version__} '
            f'has no fused {optimizer.get("type")} on {device}; using the '
            'for-each implementation instead (same result, slower).',
            logger='current')
        optimizer.pop('fused')


def adapt_amp_to_gpu(cfg: Config) -> None:
    """Use fp16 autocast where the recipe asks for bf16 on a GPU without
    bf16 support (e.g. V100), instead of failing or emulating it."""
    wrapper = cfg.get('optim_wrapper', {})
    if wrapper.get('type') == 'AmpOptimWrapper' and \
            wrapper.get('dtype') == 'bfloat16' and \
            not torch.cuda.is_bf16_supported():
        print_log(
            f'{torch.cuda.get_device_name()} has no bf16: AMP uses float16 '
            'with dynamic loss scaling instead '
            '(optim_wrapper.dtype=float16).', logger='current')
        wrapper.dtype = 'float16'
        wrapper.loss_scale = 'dynamic'


def check_writable_work_dir(cfg: Config) -> None:
    """Refuse a work dir (or local checkpoint ``out_dir``) that cannot be
    written, before anything is built: MMEngine fails there with a raw
    ``OSError`` traceback."""
    folders = {'--work-dir / work_dir': cfg.work_dir}
    out_dir = ((cfg.get('default_hooks') or {}).get('checkpoint')
               or {}).get('out_dir')
    if out_dir and '://' not in str(out_dir):
        folders['default_hooks.checkpoint.out_dir'] = out_dir
    for setting, folder in folders.items():
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise PermissionError(
                f'{setting} {folder}: cannot write there ({err.strerror}). '
                'Give a folder you can write to.') from err
