"""Print each recipe's effective values beside the authors'.

Everything in the "this config" column is read from the configs as MMEngine
builds them: the parameter groups from the optimizer wrapper built by the
config's own constructor on the config's model (built on the ``meta``
device: names, shapes and ``requires_grad`` without memory), the lr at each
optimizer update from the config's own ``param_scheduler`` stepped through
the whole run at the recipe's iterations per epoch, the data pipeline and
mixed precision from their config entries. The authors' values come from
``authors_recipes.yml`` next to this file, the one place they are kept.
``tests/test_recipe_table.py`` fails when the two part.

Example:
    python tools/analysis_tools/recipe_table.py > table.md
    python tools/analysis_tools/recipe_table.py --part pretraining
"""
import argparse
import glob
import logging
import math
import os.path as osp
import sys
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch
import yaml
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AUTHORS_FILE = osp.join(osp.dirname(osp.abspath(__file__)),
                        'authors_recipes.yml')
PRETRAINING = sorted(glob.glob(osp.join(ROOT, 'configs', 'tec_vit-*.py')))
# the fine-tuning configs join here: each named by the start of its file
# name (what it fine-tunes), whatever batch and epochs follow
FINETUNING = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'benchmarks',
                       'vit-*-p16_tec-*-pre_*coslr-*e_in1k.py')))

# Differences kept on purpose: (part, setting) -> why
DELIBERATE = {
    ('finetuning', 'mixed precision'):
    'as the pretraining recipes: bf16 needs no loss scale; '
    'optim_wrapper.dtype=float16 gives the authors\' fp16',
    ('finetuning', 'input adapter (class-token MLP)'):
    'the released weights the configs start from have it merged; from a '
    'raw pretraining checkpoint model.backbone.input_adapter=True keeps and '
    'trains it, as the authors',
    ('pretraining', 'mixed precision'):
    'bf16 has fp32\'s range: no loss scale to tune, no fp16 overflow; '
    'the authors\' fp16 with a dynamic loss scale is optim_wrapper.'
    'dtype=float16 (GPUs without bf16 get it automatically)',
}


class Row(NamedTuple):
    setting: str
    ours: str
    authors: str
    equal: bool


def authors_values() -> dict:
    with open(AUTHORS_FILE) as f:
        return yaml.safe_load(f)


def fmt(x) -> str:
    if isinstance(x, float):
        return f'{x:.6g}'
    return str(x)


# --- iterations and updates

def iterations_per_epoch(images: int, gpus: int, batch: int,
                         drop_last: bool) -> int:
    """Per-rank batches: the sampler pads the dataset to a multiple of the
    world size (MMEngine's DefaultSampler, torch's DistributedSampler)."""
    per_rank = math.ceil(images / gpus)
    return per_rank // batch if drop_last else math.ceil(per_rank / batch)


def update_iterations(epochs: int, per_epoch: int, accumulate: int,
                      windows_per_epoch: bool) -> List[int]:
    """Global iteration indices at which the optimizer steps."""
    if windows_per_epoch:  # as the authors' loops
        return [e * per_epoch + i for e in range(epochs)
                for i in range(per_epoch) if (i + 1) % accumulate == 0]
    return [k for k in range(epochs * per_epoch) if (k + 1) % accumulate == 0]


def scheduled_lrs(cfg: Config, per_epoch: int, peak: float) -> List[float]:
    """The lr of every iteration under the config's ``param_scheduler``,
    built and stepped as MMEngine's Runner does (one parameter group)."""
    from mmtec.registry import PARAM_SCHEDULERS
    epochs = cfg.train_cfg.max_epochs
    wrapper = OptimWrapper(
        torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=peak),
        accumulative_counts=cfg.optim_wrapper.get('accumulative_counts', 1))
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        sched.setdefault('end', epochs)
        if sched.pop('convert_to_iter_based', False):
            schedulers.append(PARAM_SCHEDULERS.get(
                sched.pop('type')).build_iter_from_epoch(
                    wrapper, epoch_length=per_epoch, **sched))
        else:
            schedulers.append(PARAM_SCHEDULERS.build(
                sched, default_args=dict(optimizer=wrapper)))
    lrs = []
    for _ in range(epochs):
        for _ in range(per_epoch):
            lrs.append(wrapper.param_groups[0]['lr'])
            for sched in schedulers:
                if not sched.by_epoch:
                    sched.step()
        for sched in schedulers:
            if sched.by_epoch:
                sched.step()
    return lrs


def authors_lrs(lr: float, min_lr: float, warmup: float, epochs: int,
                per_epoch: int, accumulate: int) -> List[float]:
    """MAE's/TEC's ``adjust_learning_rate`` at each update, set at the
    window's first micro-batch from ``epoch + i / len(data_loader)``."""
    out = []
    for epoch in range(epochs):
        for i in range(per_epoch):
            if i % accumulate == 0:
                e = i / per_epoch + epoch
                if e < warmup:
                    value = lr * e / warmup
                else:
                    value = min_lr + (lr - min_lr) * 0.5 * (1. + math.cos(
                        math.pi * (e - warmup) / (epochs - warmup)))
            if (i + 1) % accumulate == 0:
                out.append(value)
    return out


def lr_points(update_lrs: List[float], updates_per_epoch: float,
              warmup: float) -> Dict[str, float]:
    n = len(update_lrs)
    end_warmup = min(n - 1, math.ceil(warmup * updates_per_epoch))
    return {
        'first update': update_lrs[0],
        'end of warm-up': update_lrs[end_warmup],
        'middle update': update_lrs[n // 2],
        'last update': update_lrs[-1],
    }


# --- parameter groups

def built_groups(cfg: Config, model: nn.Module) -> Dict[str, tuple]:
    """name -> (lr scale, weight decay) from the config's optim wrapper."""
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.optimizer = dict(optim_cfg.optimizer)
    # the groups do not depend on these, which need a GPU or real tensors
    optim_cfg.optimizer.pop('fused', None)
    if optim_cfg.get('type') == 'AmpOptimWrapper':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
    wrapper = build_optim_wrapper(model, optim_cfg)
    base_lr = optim_cfg.optimizer['lr']
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {}
    for group in wrapper.optimizer.param_groups:
        scale = group.get('lr_scale', group['lr'] / base_lr)
        for p in group['params']:
            groups[names[id(p)]] = (scale, group['weight_decay'])
    return groups


def pretraining_model(cfg: Config) -> nn.Module:
    """TEC's trained part (new model and decoder) on the meta device; the
    frozen base model has no parameter in any group."""
    from mmtec.models.algorithms.tec import TEC
    from mmtec.registry import MODELS
    m = cfg.model
    with torch.device('meta'):
        backbone, neck, _ = TEC.derive_settings(m.backbone, m.neck,
                                                m.target_generator)
        model = nn.Module()
        model.backbone = backbone
        model.neck = MODELS.build(neck)
        model.head = MODELS.build(m.head)
    return model


def add_weight_decay_rule(name: str, param: nn.Parameter,
                          wd: float) -> Optional[tuple]:
    """timm 0.3.2 ``add_weight_decay``: (lr scale, wd), None if frozen."""
    if not param.requires_grad:
        return None
    no_decay = len(param.shape) == 1 or name.endswith('.bias')
    return (1.0, 0. if no_decay else wd)


def param_groups_lrd_rule(num_layers: int, layer_decay: float,
                          wd: float) -> Callable:
    """TEC's ``util/lr_decay.param_groups_lrd`` on MMPretrain's ViT names:
    (lr scale, wd), None if frozen."""

    def rule(name, param):
        short = name.split('backbone.', 1)[-1]
        if not param.requires_grad or short == 'pos_embed':
            return None  # the authors' position embedding is fixed
        if short.startswith(('pos_embed', 'patch_embed')):
            layer = 0
        elif short.startswith('layers.'):
            layer = int(short.split('.')[1]) + 1
        else:  # cls_token (id -1: the top), input adapter, norms, head
            layer = num_layers + 1
        no_decay = param.ndim == 1 or short in ('pos_embed', 'cls_token')
        return (layer_decay**(num_layers + 1 - layer), 0. if no_decay else wd)

    return rule


def group_rows(model: nn.Module, ours: Dict[str, tuple],
               rule: Callable, rule_name: str) -> List[Row]:
    theirs, frozen = {}, []
    for name, p in model.named_parameters():
        value = rule(name, p)
        if value is None:
            frozen.append(name)
        else:
            theirs[name] = value
    differ = sorted(n for n in set(ours) | set(theirs)
                    if n not in ours or n not in theirs or
                    not all(math.isclose(a, b, rel_tol=1e-12)
                            for a, b in zip(ours[n], theirs[n])))

    def summary(groups):
        scales = sorted({round(v[0], 12) for v in groups.values()})
        decays = {}
        for v in groups.values():
            decays[v[1]] = decays.get(v[1], 0) + 1
        parts = [f'{len(groups)} tensors',
                 'lr scale 1' if scales == [1.0] else
                 f'{len(scales)} lr scales {scales[0]:.4g}..{scales[-1]:.4g}',
                 ', '.join(f'wd {fmt(wd)}: {n}'
                           for wd, n in sorted(decays.items(), reverse=True))]
        shown = [n for n in groups
                 if n.endswith(('cls_token', 'mask_token', 'pos_embed'))]
        parts += [f'{n} (x{groups[n][0]:.4g}, wd {fmt(groups[n][1])})'
                  for n in shown]
        return '; '.join(parts)

    not_ours = sorted(n for n, _ in model.named_parameters() if n not in ours)
    rows = [
        Row('parameter groups (lr scale, wd)', summary(ours),
            f'{rule_name}: {summary(theirs)}', not differ),
        Row('not trained', ', '.join(not_ours) or '-',
            ', '.join(frozen) or '-', not_ours == frozen),
    ]
    if differ:
        rows.append(Row('tensors whose (lr scale, wd) differ',
                        ', '.join(differ[:6]) +
                        (f' (+{len(differ) - 6})' if len(differ) > 6 else ''),
                        '-', False))
    return rows


# --- data and precision

def describe_decode(step: dict) -> str:
    if step.get('imdecode_backend') == 'pillow' and step.get(
            'color_type') == 'color_ignore_orientation':
        return 'PIL, convert(\'RGB\'), EXIF orientation not applied'
    return (f'{step.get("imdecode_backend", "cv2")}, color_type='
            f'{step.get("color_type", "color")}')


def describe_crop(step: dict) -> str:
    return (f'RandomResizedCrop({step["scale"]}, scale='
            f'{tuple(step["crop_ratio_range"])}, {step["interpolation"]})')


def describe_normalisation(pre: dict) -> str:
    """Channel order and mean/std on 0-1 values (mmcv decodes to BGR)."""
    order = 'RGB' if pre.get('to_rgb', False) else 'BGR'
    mean = tuple(round(v / 255, 6) for v in pre['mean'])
    std = tuple(round(v / 255, 6) for v in pre['std'])
    return f'{order}, mean {mean}, std {std}'


def describe_amp(optim_wrapper: dict) -> str:
    if optim_wrapper.get('type') != 'AmpOptimWrapper':
        return 'fp32'
    dtype = optim_wrapper.get('dtype') or 'float16'
    scale = optim_wrapper.get('loss_scale', 'dynamic')
    if dtype in ('bfloat16', 'bf16'):
        return 'bf16 autocast (fp16 + dynamic loss scale on GPUs without bf16)'
    return f'fp16 autocast, {scale} loss scale'


# --- the two halves

def pretraining_rows(path: str, authors: dict) -> List[Row]:
    cfg = Config.fromfile(path)
    shared = authors['pretraining']['shared']
    # a base the paper did not use (DINOv2, CLIP): the authors' shared
    # settings at this recipe's own length
    own = authors['pretraining']['recipes'].get(
        osp.basename(path), dict(epochs=cfg.train_cfg.max_epochs))
    ow, loader = cfg.optim_wrapper, cfg.train_dataloader
    accumulate = ow.get('accumulative_counts', 1)
    batch = loader.batch_size
    gpus = round(cfg.auto_scale_lr.base_batch_size / (batch * accumulate))
    drop_last = loader.get('drop_last', False)
    per_epoch = iterations_per_epoch(authors['train_images'], gpus, batch,
                                     drop_last)
    their_per_epoch = iterations_per_epoch(
        authors['train_images'], shared['gpus'], shared['batch_per_gpu'],
        shared['drop_last'])
    epochs = cfg.train_cfg.max_epochs
    windows_per_epoch = any(h.get('type') == 'ExactResumeHook'
                            for h in cfg.get('custom_hooks', []))
    # the config's lr is for its base batch: tools/train.py scales it to
    # gpus x batch x accumulation, here equal to the base batch
    peak = ow.optimizer.lr * gpus * batch * accumulate / \
        cfg.auto_scale_lr.base_batch_size
    lrs = scheduled_lrs(cfg, per_epoch, peak)
    ours_lrs = [lrs[k] for k in update_iterations(
        epochs, per_epoch, accumulate, windows_per_epoch)]
    their_lr = shared['blr'] * shared['batch_per_gpu'] * shared['gpus'] * \
        shared['accumulation'] / 256
    theirs_lrs = authors_lrs(their_lr, shared['min_lr'],
                             shared['warmup_epochs'], own['epochs'],
                             their_per_epoch, shared['accumulation'])
    ours_pts = lr_points(ours_lrs, len(ours_lrs) / epochs,
                         shared['warmup_epochs'])
    theirs_pts = lr_points(theirs_lrs, len(theirs_lrs) / own['epochs'],
                           shared['warmup_epochs'])
    model = pretraining_model(cfg)
    pipeline = loader.dataset.pipeline
    crop = next(s for s in pipeline if s['type'] == 'RandomResizedCrop')
    flip = next(s for s in pipeline if s['type'] == 'RandomFlip')

    def row(setting, ours, theirs, equal=None):
        return Row(setting, fmt(ours), fmt(theirs),
                   ours == theirs if equal is None else equal)

    rows = [
        row('epochs', epochs, own['epochs']),
        row('batch per GPU x GPUs x accumulation',
            f'{batch} x {gpus} x {accumulate}',
            f'{shared["batch_per_gpu"]} x {shared["gpus"]} x '
            f'{shared["accumulation"]}'),
        row('optimizer, betas',
            f'{ow.optimizer.type} {tuple(ow.optimizer.betas)}',
            f'{shared["optimizer"]} {tuple(shared["betas"])}'),
        row('peak lr', peak, their_lr,
            math.isclose(peak, their_lr, rel_tol=1e-12)),
        row('weight decay', ow.optimizer.weight_decay,
            shared['weight_decay']),
        *group_rows(model, built_groups(cfg, model),
                    lambda n, p: add_weight_decay_rule(
                        n, p, shared['weight_decay']),
                    'add_weight_decay'),
        row('gradient clipping', ow.get('clip_grad'), shared['clip_grad']),
        row('iterations per epoch', per_epoch, their_per_epoch),
        row('drop_last', drop_last, shared['drop_last']),
        row('optimizer updates', len(ours_lrs), len(theirs_lrs)),
        *[row(f'lr at {k}', ours_pts[k], theirs_pts[k],
              ours_pts[k] == theirs_pts[k]) for k in ours_pts],
        row('lr at every update', 'equal' if ours_lrs == theirs_lrs else
            'differs', 'adjust_learning_rate', ours_lrs == theirs_lrs),
        row('decoding', describe_decode(pipeline[0]), shared['decode']),
        row('crop', describe_crop(crop), shared['crop']),
        row('flip', flip.prob, shared['flip']),
        row('normalisation', describe_normalisation(cfg.data_preprocessor),
            shared['normalisation']),
        row('mixed precision', describe_amp(ow), shared['amp']),
    ]
    return rows


def finetuning_key(path: str) -> str:
    return osp.basename(path).split('_8x')[0]


def finetuning_model(cfg: Config) -> nn.Module:
    from mmpretrain.registry import MODELS
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with torch.device('meta'):
        return MODELS.build(model_cfg)


def finetuning_rows(path: str, authors: dict) -> List[Row]:
    cfg = Config.fromfile(path)
    shared = authors['finetuning']['shared']
    own = authors['finetuning']['recipes'][finetuning_key(path)]
    ow, loader = cfg.optim_wrapper, cfg.train_dataloader
    accumulate = ow.get('accumulative_counts', 1)
    batch = loader.batch_size
    gpus = shared['gpus']
    base = cfg.auto_scale_lr.base_batch_size
    blr = ow.optimizer.lr * 256 / base
    peak = blr * gpus * batch * accumulate / 256
    per_epoch = iterations_per_epoch(authors['train_images'], gpus, batch,
                                     loader.get('drop_last', False))
    their_per_epoch = iterations_per_epoch(
        authors['train_images'], gpus, own['batch_per_gpu'], True)
    epochs = cfg.train_cfg.max_epochs
    windows_per_epoch = any(h.get('type') == 'ExactResumeHook'
                            for h in cfg.get('custom_hooks', []))
    lrs = scheduled_lrs(cfg, per_epoch, peak)
    ours_lrs = [lrs[k] for k in update_iterations(
        epochs, per_epoch, accumulate, windows_per_epoch)]
    their_peak = own['blr'] * gpus * own['batch_per_gpu'] * \
        own['accumulation'] / 256
    theirs_lrs = authors_lrs(their_peak, own['min_lr'],
                             own['warmup_epochs'], own['epochs'],
                             their_per_epoch, own['accumulation'])
    peak_at = max(range(len(ours_lrs)), key=ours_lrs.__getitem__)
    warmup = round(peak_at / (len(ours_lrs) / epochs), 2)
    ours_pts = lr_points(ours_lrs, len(ours_lrs) / epochs, warmup)
    theirs_pts = lr_points(theirs_lrs, len(theirs_lrs) / own['epochs'],
                           own['warmup_epochs'])
    eta_min = [s.get('eta_min') for s in cfg.param_scheduler
               if s.get('eta_min') is not None]
    same_lrs = len(ours_lrs) == len(theirs_lrs) and all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
        for a, b in zip(ours_lrs, theirs_lrs))
    pipeline = loader.dataset.pipeline
    mixing = ' / '.join(str(a.get('alpha')) for a in cfg.model.get(
        'train_cfg', {}).get('augments', [])) or 'none'
    layer_decay = ow.get('paramwise_cfg', {}).get('layer_decay_rate')
    model = finetuning_model(cfg)
    num_layers = len(model.backbone.layers)
    rule = param_groups_lrd_rule(num_layers, own['layer_decay'],
                                 shared['weight_decay'])

    def close(a, b):
        return a is not None and b is not None and math.isclose(
            a, b, rel_tol=1e-9)

    def row(setting, ours, theirs, equal=None):
        return Row(setting, fmt(ours), fmt(theirs),
                   ours == theirs if equal is None else equal)

    return [
        row('epochs', epochs, own['epochs']),
        row('batch per GPU x GPUs x accumulation',
            f'{batch} x {gpus} x {accumulate}',
            f'{own["batch_per_gpu"]} x {gpus} x {own["accumulation"]}'),
        row('blr (lr per 256 images)', blr, own['blr'], close(blr,
                                                             own['blr'])),
        row('layer decay', layer_decay, own['layer_decay'],
            close(layer_decay, own['layer_decay'])),
        row('warm-up epochs (lr peaks at)', warmup, own['warmup_epochs'],
            close(warmup, own['warmup_epochs'])),
        row('min lr', eta_min[-1] if eta_min else None, own['min_lr'],
            close(eta_min[-1] if eta_min else None, own['min_lr'])),
        row('optimizer, betas',
            f'{ow.optimizer.type} {tuple(ow.optimizer.get("betas", ()))}',
            f'{shared["optimizer"]} {tuple(shared["betas"])}'),
        row('weight decay', ow.optimizer.weight_decay,
            shared['weight_decay']),
        *group_rows(model, built_groups(cfg, model), rule,
                    'param_groups_lrd'),
        row('gradient clipping', ow.get('clip_grad'), shared['clip_grad']),
        row('iterations per epoch', per_epoch, their_per_epoch),
        *[row(f'lr at {k}', ours_pts[k], theirs_pts[k],
              close(ours_pts[k], theirs_pts[k])) for k in ours_pts],
        row('lr at every update', 'equal' if same_lrs else 'differs',
            'adjust_learning_rate', same_lrs),
        row('drop path', cfg.model.backbone.get('drop_path_rate'),
            shared['drop_path']),
        row('label smoothing',
            cfg.model.head.loss.get('label_smooth_val'),
            shared['label_smoothing']),
        row('mixup / cutmix', mixing, f'{shared["mixup"]} / '
            f'{shared["cutmix"]}'),
        row('decoding', describe_decode(pipeline[0]), shared['decode']),
        row('RandAugment', describe_rand_augment(pipeline),
            shared['rand_augment']),
        row('random erasing', describe_erasing(pipeline),
            shared['random_erasing']),
        row('mixed precision', describe_amp(ow), shared['amp']),
        row('input adapter (class-token MLP)',
            'kept and trained' if cfg.model.backbone.get('input_adapter')
            else 'merged into the class token', shared['input_adapter']),
    ]


def describe_rand_augment(pipeline: list) -> str:
    """timm's policy name for MMPretrain's RandAugment settings."""
    step = next((s for s in pipeline if s['type'] == 'RandAugment'), None)
    if step is None:
        return 'none'
    inc = '-inc1' if step.get('policies') == 'timm_increasing' else ''
    return (f'rand-m{step["magnitude_level"]}-mstd{step["magnitude_std"]}'
            f'{inc}' if step.get('num_policies') == 2 and
            step.get('total_level') == 10 else str(step))


def describe_erasing(pipeline: list) -> str:
    step = next((s for s in pipeline if s['type'] == 'RandomErasing'), None)
    if step is None:
        return 'none'
    # MMPretrain's 'rand' mode with fill_std draws per-pixel normal values:
    # timm's 'pixel' mode
    mode = 'pixel mode' if step.get('mode') == 'rand' and \
        step.get('fill_std') is not None else f'mode {step.get("mode")}'
    return f'{step["erase_prob"]}, {mode}'


def markdown(title: str, rows: List[Row], part: str) -> str:
    lines = [f'#### {title}', '', '| setting | this config | authors | |',
             '| --- | --- | --- | --- |']
    for r in rows:
        mark = 'equal' if r.equal else 'differs'
        why = DELIBERATE.get((part, r.setting))
        if why and not r.equal:
            mark = f'differs on purpose: {why}'
        cells = [c.replace('|', '\\|') for c in (r.setting, r.ours,
                                                 r.authors)]
        lines.append(f'| {" | ".join(cells)} | {mark} |')
    return '\n'.join(lines) + '\n'


def all_rows(part: str = 'all') -> Dict[str, Dict[str, List[Row]]]:
    import mmtec  # noqa: F401  registers mmtec's modules
    init_default_scope('mmpretrain')
    authors = authors_values()
    out: Dict[str, Dict[str, List[Row]]] = {}
    if part in ('all', 'pretraining'):
        out['pretraining'] = {osp.basename(p): pretraining_rows(p, authors)
                              for p in PRETRAINING}
    if part in ('all', 'finetuning'):
        out['finetuning'] = {osp.basename(p): finetuning_rows(p, authors)
                             for p in FINETUNING}
    return out


def render(parts: Dict[str, Dict[str, List[Row]]]) -> str:
    """The markdown of :func:`all_rows`'s tables."""
    out = []
    for part, recipes in parts.items():
        folder = 'configs/benchmarks/' if part == 'finetuning' else 'configs/'
        out.append(f'### {part.capitalize()}\n')
        for name, rows in recipes.items():
            out.append(markdown(folder + name, rows, part))
            if part == 'pretraining' and \
                    name not in authors_values()['pretraining']['recipes']:
                out.append('The paper has no run on this base: the column '
                           '"authors" is their shared recipe at this '
                           "config's epochs; topk and tau are this "
                           "project's choice (the config says why).\n")
    return '\n'.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--part', choices=['all', 'pretraining',
                                           'finetuning'], default='all')
    args = parser.parse_args(argv)
    # MMEngine logs each parameter's group to stdout: keep only the table
    MMLogger.get_instance('mmengine').setLevel(logging.ERROR)
    warnings.simplefilter('ignore')
    print(render(all_rows(args.part)), end='')


if __name__ == '__main__':
    main()
