"""Adapt a recipe's config to the machine and the launch before a run."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def adapt_to_cpu(cfg: Config) -> None:
    """Run a GPU recipe on a machine without CUDA instead of failing."""
    if cfg.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper':
        print_log('No CUDA device: training in fp32 (OptimWrapper) instead '
                  'of AmpOptimWrapper.', logger='current')
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
        cfg.optim_wrapper.pop('dtype', None)
    for name in _LOADERS:
        if cfg.get(name):
            cfg[name]['pin_memory'] = False
    drop_unsupported_fused_optimizer(cfg, 'cpu')
    # the base's weights_dtype='auto' picks bf16 or fp32 for this CPU itself
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


def scale_lr_for_accumulation(cfg: Config) -> None:
    """Count gradient accumulation in the batch that scales the lr:
    ``auto_scale_lr.base_batch_size`` (the effective batch of the config's
    lr) over the accumulation steps, as MMEngine compares it with
    world_size x batch_size only."""
    auto_scale = cfg.get('auto_scale_lr')
    accum = cfg.get('optim_wrapper', {}).get('accumulative_counts', 1)
    if auto_scale and auto_scale.get('enable', False) and accum > 1:
        auto_scale.base_batch_size = auto_scale.base_batch_size / accum


def apply_auto_scale_lr(runner, cfg: Config) -> None:
    """Scale the optimizer config's lr before the optimizer is built (and
    turn the Runner's scaling off): ``Runner.scale_lr`` leaves the logged
    ``base_lr`` at the config's unscaled lr.

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
    for w in optimizer_wrappers(wrapper).values():
        if w['optimizer'].get('lr') is not None:
            w['optimizer']['lr'] = w['optimizer']['lr'] * ratio
    print_log(
        f'LR is set based on batch size of {auto_scale["base_batch_size"]} '
        f'and the current batch size is {real_bs}. Scaling the original LR '
        f'by {ratio}.', logger='current')
    runner.auto_scale_lr = dict(auto_scale, enable=False)


def optimizer_wrappers(wrapper: dict) -> dict:
    """The optimizer wrappers of ``optim_wrapper``, by config path."""
    if 'optimizer' in wrapper:
        return {'optim_wrapper': wrapper}
    return {f'optim_wrapper.{k}': v for k, v in wrapper.items()
            if isinstance(v, dict) and 'optimizer' in v}


def fit_dataloaders_to_workers(cfg: Config) -> None:
    """Let ``num_workers=0`` just work: torch refuses the recipes'
    ``persistent_workers`` and ``prefetch_factor`` without workers."""
    for name in _LOADERS:
        loader = cfg.get(name)
        if loader and loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
            loader.pop('prefetch_factor', None)


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
    if optimizer.get('fused') and not fused_optimizer_supported(
            optimizer.get('type', ''), device):
        print_log(
            f'optim_wrapper.optimizer.fused=True: torch {torch.__version__} '
            f'has no fused {optimizer.get("type")} on {device}; using the '
            'for-each implementation instead (same result, slower).',
            logger='current')
        optimizer.pop('fused')


def gpu_jpeg_decode_unavailable() -> str:
    """Why JPEGs cannot be decoded on the GPU here ('' when they can)."""
    if not torch.cuda.is_available():
        return 'no CUDA device is available'
    try:
        import torchvision
        from torchvision.io import decode_jpeg, encode_jpeg
        probe = encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8))
        decode_jpeg([probe], device='cuda')
    except Exception as e:  # any failure means: use the CPU pipeline
        return (f'torchvision {torchvision.__version__} cannot decode JPEGs '
                f'on this GPU ({type(e).__name__}: {e})')
    return ''


def apply_gpu_decode(cfg: Config) -> bool:
    """Apply ``gpu_decode=True`` of a config; return whether it is used:
    ``PackJPEGBytes`` in the workers and ``GPUJPEGDataPreprocessor`` (the
    recipe's crop, flip and mean/std) replace the CPU pipeline, which stays
    (with a message) where the GPU cannot decode JPEGs.

    Args:
        cfg (Config): The merged config.
    """
    if not cfg.get('gpu_decode', False):
        return False
    reason = gpu_jpeg_decode_unavailable()
    if reason:
        print_log(
            f'gpu_decode=True, but {reason}: training with the CPU data '
            'pipeline (train_dataloader.dataset.pipeline) instead.',
            logger='current')
        return False
    loader = cfg.train_dataloader
    pipeline = loader.dataset.pipeline
    types = [t['type'] for t in pipeline]
    crop, flip = (next((t for t in pipeline if t['type'] == name), None)
                  for name in ('RandomResizedCrop', 'RandomFlip'))
    if crop is None:
        raise ValueError(
            f'gpu_decode=True needs a RandomResizedCrop in '
            f'train_dataloader.dataset.pipeline (found {types}); set '
            'gpu_decode=False for this pipeline.')
    pre = dict(cfg.get('data_preprocessor') or {})
    cfg.model.data_preprocessor = dict(
        type='GPUJPEGDataPreprocessor',
        crop_size=crop['scale'],
        scale=tuple(crop.get('crop_ratio_range', (0.08, 1.0))),
        ratio=tuple(crop.get('aspect_ratio_range', (3. / 4., 4. / 3.))),
        flip_prob=flip.get('prob', 0.5) if flip else 0.,
        mean=pre.get('mean', (123.675, 116.28, 103.53)),
        std=pre.get('std', (58.395, 57.12, 57.375)))
    loader.dataset.pipeline = [dict(type='PackJPEGBytes')]
    loader.collate_fn = dict(type='pseudo_collate')
    print_log('gpu_decode=True: JPEGs are decoded and augmented on the GPU '
              '(GPUJPEGDataPreprocessor).', logger='current')
    return True
