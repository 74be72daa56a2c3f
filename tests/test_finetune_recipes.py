"""The fine-tuning configs are the authors' six commands: recipe values, lr
per iteration and every parameter's lr scale and weight decay, against the
authors' values (sail-sg/TEC README commands, ``main_finetune.py`` defaults,
``util/lr_decay.py``) restated here as data and plain Python."""
import copy
import functools
import math
import os

import pytest
import torch
from mmengine.config import Config

from paths import ROOT

BENCH = os.path.join(ROOT, 'configs', 'benchmarks')
RELEASE = 'https://github.com/sail-sg/TEC/releases/download/weights/'

# the authors' fine-tuning commands, one per released model
AUTHORS = {
    'vit-b-p16_tec-mae300e-100e-pre_8xb128-coslr-100e_in1k.py': dict(
        arch='b', batch_size=128, accum_iter=1, epochs=100, blr=5e-4,
        layer_decay=0.65, warmup_epochs=5, min_lr=1e-6,
        weights='tec_mae300ep_vitb_100ep.pth'),
    'vit-b-p16_tec-300e-pre_8xb128-coslr-100e_in1k.py': dict(
        arch='b', batch_size=128, accum_iter=1, epochs=100, blr=5e-4,
        layer_decay=0.65, warmup_epochs=20, min_lr=1e-6,
        weights='tec_mae_vitb_300ep.pth'),
    'vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py': dict(
        arch='b', batch_size=128, accum_iter=1, epochs=100, blr=5e-4,
        layer_decay=0.55, warmup_epochs=20, min_lr=1e-6,
        weights='tec_mae_vitb_800ep.pth'),
    'vit-b-p16_tec-ibot-300e-pre_8xb128-coslr-100e_in1k.py': dict(
        arch='b', batch_size=128, accum_iter=1, epochs=100, blr=5e-4,
        layer_decay=0.50, warmup_epochs=5, min_lr=1e-6,
        weights='tec_ibot_vitb_300ep.pth'),
    'vit-b-p16_tec-ibot-800e-pre_8xb128-coslr-100e_in1k.py': dict(
        arch='b', batch_size=128, accum_iter=1, epochs=100, blr=5e-4,
        layer_decay=0.55, warmup_epochs=20, min_lr=1e-6,
        weights='tec_ibot_vitb_800ep.pth'),
    'vit-l-p16_tec-300e-pre_8xb64-accum2-coslr-50e_in1k.py': dict(
        arch='l', batch_size=64, accum_iter=2, epochs=50, blr=1e-3,
        layer_decay=0.65, warmup_epochs=5, min_lr=1e-5,
        weights='tec_mae_vitl_300ep.pth'),
}
# shared by all six (command line or main_finetune.py defaults)
SHARED = dict(
    gpus=8, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, drop_path=0.1,
    mixup=0.8, cutmix=1.0, mixup_switch_prob=0.5, smoothing=0.1,
    reprob=0.25, remode='pixel', aa='rand-m9-mstd0.5-inc1',
    head_init_std=2e-5, global_pool=True, fixed_pos_embed=True,
    eval_resize=256, eval_crop=224, interpolation='bicubic', clip_grad=None,
    drop_last=True,
    # torchvision's ImageFolder: PIL, convert('RGB'), no EXIF rotation
    decode=('pillow', 'color_ignore_orientation'),
    eval_decode=('pillow', 'color_ignore_orientation'))
WIDTH = dict(b=768, l=1024)
DEPTH = dict(b=12, l=24)


@functools.lru_cache(maxsize=None)
def _parsed(name):
    return Config.fromfile(os.path.join(BENCH, name))


def load(name):
    return copy.deepcopy(_parsed(name))


def recipe_of(cfg):
    """The recipe values a fine-tuning config trains with, in the authors'
    terms, read off the config as MMEngine and MMPretrain use it."""
    ow = cfg.optim_wrapper
    batch, accum = cfg.train_dataloader.batch_size, \
        ow.get('accumulative_counts', 1)
    lr = ow.optimizer.lr
    schedule, = cfg.param_scheduler
    assert schedule.type == 'WarmupCosineLR' and schedule.by_epoch and \
        schedule.get('begin', 0) == 0 and schedule.get('end') is None
    model = cfg.model
    augments = model.train_cfg.augments
    train = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    test = {t.type: t for t in cfg.test_dataloader.dataset.pipeline}
    rand_aug = train['RandAugment']
    erase = train['RandomErasing']
    return dict(
        arch=model.backbone.arch[0],
        batch_size=batch,
        accum_iter=accum,
        epochs=cfg.train_cfg.max_epochs,
        blr=lr * 256 / (SHARED['gpus'] * batch * accum),
        layer_decay=ow.paramwise_cfg.layer_decay_rate,
        warmup_epochs=schedule.warmup_epochs,
        min_lr=schedule.eta_min,
        weights=model.backbone.init_cfg.checkpoint[len(RELEASE):]
        if model.backbone.init_cfg.checkpoint.startswith(RELEASE) else None,
        gpus=round(cfg.auto_scale_lr.base_batch_size / (batch * accum)),
        betas=tuple(ow.optimizer.betas),
        eps=ow.optimizer.eps,
        weight_decay=ow.optimizer.weight_decay,
        drop_path=model.backbone.drop_path_rate,
        mixup=[a.alpha for a in augments if a.type == 'Mixup'][0],
        cutmix=[a.alpha for a in augments if a.type == 'CutMix'][0],
        # RandomBatchAugment picks one of the two with equal probability
        mixup_switch_prob=1 / len(augments)
        if model.train_cfg.get('probs') is None else None,
        smoothing=model.head.loss.label_smooth_val
        if model.head.loss.mode == 'original' else None,
        reprob=erase.erase_prob,
        # timm's 'pixel' mode: per-pixel normal noise
        remode={'rand': 'pixel', 'const': 'const'}[erase.mode],
        aa=(f'rand-m{rand_aug.magnitude_level}-mstd{rand_aug.magnitude_std}'
            f'-inc{int(rand_aug.policies == "timm_increasing")}'
            if rand_aug.num_policies == 2 and rand_aug.total_level == 10
            else None),
        head_init_std=model.head.init_cfg[0].std,
        global_pool=model.backbone.out_type == 'avg_featmap' and
        not model.backbone.final_norm,
        fixed_pos_embed=model.backbone.fixed_pos_embed,
        eval_resize=test['ResizeEdge'].scale,
        eval_crop=test['CenterCrop'].crop_size,
        interpolation=test['ResizeEdge'].interpolation,
        clip_grad=ow.get('clip_grad'),
        drop_last=cfg.train_dataloader.drop_last,
        decode=(train['LoadImageFromFile'].get('imdecode_backend'),
                train['LoadImageFromFile'].get('color_type')),
        eval_decode=(test['LoadImageFromFile'].get('imdecode_backend'),
                     test['LoadImageFromFile'].get('color_type')))


def recipe_mismatches(cfg, authors):
    ours = recipe_of(cfg)
    return {k: (ours[k], v) for k, v in authors.items()
            if not (ours[k] == pytest.approx(v, rel=1e-9)
                    if isinstance(v, float) else ours[k] == v)}


@pytest.mark.parametrize('name', sorted(AUTHORS))
def test_recipe_values_are_the_authors(name):
    cfg = load(name)
    assert recipe_mismatches(cfg, {**AUTHORS[name], **SHARED}) == {}
    # fixed at what the authors ran, not in their command line
    assert cfg.param_scheduler[0].convert_to_iter_based
    assert cfg.model.backbone.type == 'PretrainedVisionTransformer'
    assert cfg.model.head.in_channels == WIDTH[AUTHORS[name]['arch']]


# one changed value per entry: (dotted config key, new value)
MUTATIONS = [
    ('train_dataloader.batch_size', 96),
    ('optim_wrapper.accumulative_counts', 4),
    ('train_cfg.max_epochs', 90),
    ('optim_wrapper.optimizer.lr', 1e-3),
    ('optim_wrapper.paramwise_cfg.layer_decay_rate', 0.75),
    ('param_scheduler.0.warmup_epochs', 10),
    ('param_scheduler.0.eta_min', 1e-4),
    ('optim_wrapper.optimizer.betas', (0.9, 0.95)),
    ('optim_wrapper.optimizer.weight_decay', 0.1),
    ('model.backbone.drop_path_rate', 0.2),
    ('model.train_cfg.augments.0.alpha', 0.5),
    ('model.train_cfg.augments.1.alpha', 0.5),
    ('model.head.loss.label_smooth_val', 0.2),
    ('train_dataloader.dataset.pipeline.3.magnitude_level', 7),
    ('train_dataloader.dataset.pipeline.4.erase_prob', 0.5),
    ('train_dataloader.dataset.pipeline.0.color_type', 'color'),
    ('test_dataloader.dataset.pipeline.0.imdecode_backend', 'cv2'),
    ('model.head.init_cfg.0.std', 0.02),
    ('model.backbone.fixed_pos_embed', False),
    ('test_dataloader.dataset.pipeline.1.scale', 248),
    ('optim_wrapper.clip_grad', dict(max_norm=3.0)),
    ('train_dataloader.drop_last', False),
    ('model.backbone.init_cfg.checkpoint', 'checkpoints/tec.pth'),
]


def _set(cfg, dotted, value):
    *path, last = dotted.split('.')
    node = cfg
    for key in path:
        node = node[int(key)] if key.isdigit() else node[key]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize('key,value', MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_a_changed_recipe_value_is_caught(key, value):
    name = 'vit-l-p16_tec-300e-pre_8xb64-accum2-coslr-50e_in1k.py'
    authors = {**AUTHORS[name], **SHARED}
    cfg = load(name)
    assert recipe_mismatches(cfg, authors) == {}
    _set(cfg, key, value)
    assert recipe_mismatches(cfg, authors) != {}


# --------------------------------------------------------------------------
# the lr at every iteration
# --------------------------------------------------------------------------
def authors_lr(e, lr, min_lr, warmup_epochs, epochs):
    """``util/lr_sched.adjust_learning_rate`` at fractional epoch ``e``."""
    if e < warmup_epochs:
        return lr * e / warmup_epochs
    return min_lr + (lr - min_lr) * 0.5 * (
        1. + math.cos(math.pi * (e - warmup_epochs) /
                      (epochs - warmup_epochs)))


@pytest.mark.parametrize('name', sorted(AUTHORS))
def test_lr_at_every_iteration(name):
    """Stepped as MMEngine's Runner steps it (``convert_to_iter_based``,
    once per iteration), for the top group and the bottom group (scale
    ``layer_decay ** (depth + 1)``), against the authors' lr x scale at the
    same fractional epoch: equal to rounding, from exactly 0 at the first
    iteration (the groups carry their ``lr_scale`` as MMPretrain's
    layer-decay constructor sets it)."""
    from mmengine.registry import init_default_scope

    from mmtec.registry import PARAM_SCHEDULERS
    init_default_scope('mmpretrain')
    cfg, a = load(name), AUTHORS[name]
    per_epoch = 50
    lr = cfg.optim_wrapper.optimizer.lr
    scales = [1.0, a['layer_decay']**(DEPTH[a['arch']] + 1)]
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in scales]
    optimizer = torch.optim.SGD(
        [dict(params=[p], lr=lr * s, lr_scale=s)
         for p, s in zip(params, scales)], lr=lr)
    schedulers = []
    for s in cfg.param_scheduler:  # as the Runner converts epochs
        s = dict(s)
        assert s.pop('by_epoch') and s.pop('convert_to_iter_based')
        schedulers.append(PARAM_SCHEDULERS.get(s.pop('type')).
                          build_iter_from_epoch(optimizer,
                                                end=a['epochs'],
                                                epoch_length=per_epoch, **s))
    for i in range(a['epochs'] * per_epoch):
        theirs = authors_lr(i / per_epoch, lr, a['min_lr'],
                            a['warmup_epochs'], a['epochs'])
        tol = lr * 1e-9
        for group, scale in zip(optimizer.param_groups, scales):
            assert abs(group['lr'] - theirs * scale) <= tol * scale, (i, scale)
        optimizer.step()
        for sched in schedulers:
            sched.step()
    # the last iteration is (nearly) at min_lr, scaled per group as theirs
    assert optimizer.param_groups[1]['lr'] < 1.01 * a['min_lr'] * scales[1]


# --------------------------------------------------------------------------
# every parameter's lr scale and weight decay
# --------------------------------------------------------------------------
def authors_param_groups(params, depth, weight_decay, layer_decay):
    """``util/lr_decay.param_groups_lrd`` of TEC for the fine-tuning model,
    restated: ``{timm name: (lr_scale, weight_decay)}`` of the trained
    parameters. ``params`` maps timm names to ``ndim``; the position
    embedding is not trained (``requires_grad=False`` in models_vit.py) and
    ``no_weight_decay()`` is timm's ``{pos_embed, cls_token, dist_token}``.
    """
    scales = [layer_decay**(depth + 1 - i) for i in range(depth + 2)]
    groups = {}
    for name, ndim in params.items():
        if name == 'pos_embed':
            continue
        no_decay = ndim == 1 or name in ('pos_embed', 'cls_token',
                                         'dist_token')
        if name in ('cls_token', 'cls_token_mlp'):
            layer_id = -1
        elif name == 'pos_embed' or name.startswith('patch_embed'):
            layer_id = 0
        elif name.startswith('blocks'):
            layer_id = int(name.split('.')[1]) + 1
        else:
            layer_id = depth + 1
        groups[name] = (scales[layer_id], 0. if no_decay else weight_decay)
    return groups


# mmtec (MMPretrain) names -> the authors' (timm) names, spelled out
_BLOCK = {'ln1': 'norm1', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj',
          'ln2': 'norm2', 'ffn.layers.0.0': 'mlp.fc1',
          'ffn.layers.1': 'mlp.fc2'}
_OTHER = {'backbone.cls_token': 'cls_token',
          'backbone.pos_embed': 'pos_embed',
          'backbone.patch_embed.projection': 'patch_embed.proj',
          'backbone.ln2': 'fc_norm', 'head.fc': 'head',
          'backbone.input_adapter.layers.0.0': 'cls_token_mlp.fc1',
          'backbone.input_adapter.layers.1': 'cls_token_mlp.fc2'}


def timm_name(name):
    stem, _, leaf = name.rpartition('.')
    if name in _OTHER:
        return _OTHER[name]
    if stem in _OTHER:
        return f'{_OTHER[stem]}.{leaf}'
    parts = name.split('.')
    assert parts[:2] == ['backbone', 'layers'], name
    return f'blocks.{parts[2]}.{_BLOCK[".".join(parts[3:-1])]}.{leaf}'


def built_param_groups(cfg):
    """``{timm name: (lr_scale, weight_decay)}`` from the optimizer that
    MMEngine builds for the config's model (on the meta device: names,
    shapes and requires_grad only), and the model's own ``{timm name:
    ndim}``."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from mmtec.registry import MODELS
    init_default_scope('mmpretrain')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg.type = 'OptimWrapper'  # AMP needs a GPU, groups do not
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    base_lr = cfg.optim_wrapper.optimizer.lr
    groups = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            assert group['lr'] == pytest.approx(base_lr * group['lr_scale'])
            groups[timm_name(names[id(p)])] = (group['lr_scale'],
                                               group['weight_decay'])
    ndims = {timm_name(n): p.ndim for n, p in model.named_parameters()}
    return groups, ndims


@pytest.mark.parametrize('input_adapter', [False, True],
                         ids=['released', 'raw_with_adapter'])
@pytest.mark.parametrize('name', sorted(AUTHORS))
def test_param_groups_are_the_authors(name, input_adapter):
    """Every parameter of the real ViT-B/L fine-tuning model, grouped by
    MMPretrain's LearningRateDecayOptimWrapperConstructor from the config,
    has the lr scale and weight decay of TEC's param_groups_lrd."""
    cfg = load(name)
    cfg.model.backbone.input_adapter = input_adapter
    ours, ndims = built_param_groups(cfg)
    a = AUTHORS[name]
    theirs = authors_param_groups(ndims, DEPTH[a['arch']],
                                  SHARED['weight_decay'], a['layer_decay'])
    assert 'pos_embed' in ndims and 'pos_embed' not in ours
    assert any(k.startswith('cls_token_mlp.') for k in ours) == input_adapter
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12), key
    # what sets TEC apart from MAE's rule, stated outright
    assert ours['cls_token'] == (1.0, 0.)
    if input_adapter:
        assert ours['cls_token_mlp.fc1.weight'] == (1.0, 0.05)
        assert ours['cls_token_mlp.fc2.bias'] == (1.0, 0.)


# --------------------------------------------------------------------------
# fine-tuning the input adapter from a raw TEC pretraining checkpoint
# --------------------------------------------------------------------------
TINY_FT = os.path.join(ROOT, 'tests', 'data', 'finetune_vit-tiny_test.py')


def raw_tec_checkpoint(path):
    """A tiny TEC raw training checkpoint (``{'model', 'optimizer', ...}``
    with ``cls_token_mlp.*``), as TEC's save_model writes it, and its
    timm-style weights."""
    from vit_checkpoints import layouts, random_vit
    raw, _ = layouts(random_vit())['tec_raw']
    torch.save(raw, path)
    return raw['model']


def tiny_backbone(checkpoint, input_adapter):
    from mmengine.registry import init_default_scope

    from mmtec.registry import MODELS
    from vit_checkpoints import IMG, PATCH, TINY_ARCH
    init_default_scope('mmpretrain')
    vit = MODELS.build(dict(
        type='PretrainedVisionTransformer', arch=TINY_ARCH, img_size=IMG,
        patch_size=PATCH, out_type='avg_featmap', final_norm=False,
        fixed_pos_embed=True, input_adapter=input_adapter,
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint))))
    vit.init_weights()
    vit.eval()  # BaseBackbone.train returns None: no chaining
    return vit


def test_adapter_kept_or_merged_computes_the_same(tmp_path):
    """Kept (and trainable) or merged into the class token, the input
    adapter of a raw checkpoint gives the same features before training;
    a released file (no adapter) cannot be fine-tuned with one."""
    raw = raw_tec_checkpoint(tmp_path / 'raw.pth')
    kept = tiny_backbone(tmp_path / 'raw.pth', input_adapter=True)
    merged = tiny_backbone(tmp_path / 'raw.pth', input_adapter=False)
    assert kept.pretrained_load_report['input_adapter'] == 'kept'
    assert merged.pretrained_load_report['input_adapter'] == 'merged'
    torch.testing.assert_close(kept.cls_token, raw['cls_token'])
    torch.testing.assert_close(kept.input_adapter.layers[0][0].weight,
                               raw['cls_token_mlp.fc1.weight'])
    assert not kept.pos_embed.requires_grad
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(kept(img)[0], merged(img)[0])

    from mmtec.checkpoint import BackboneCheckpointError
    from mmtec.converters import canonical_to_timm
    from mmtec.converters.layout_reader import read_vit
    plain, _ = read_vit(str(tmp_path / 'raw.pth'))
    torch.save(canonical_to_timm(plain), tmp_path / 'released.pth')
    with pytest.raises(BackboneCheckpointError,
                       match='input_adapter=True needs a raw TEC'):
        tiny_backbone(tmp_path / 'released.pth', input_adapter=True)


@pytest.mark.slow
def test_finetuning_trains_the_adapter_and_not_the_position_embedding(
        tmp_path, image_folder):
    """A few iterations of the (tiny) fine-tuning recipe through
    MMPretrain's Runner from a raw TEC checkpoint with
    ``input_adapter=True``: the adapter starts as the checkpoint's MLP and
    is trained; the position embedding stays the checkpoint's."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmtec.run_config.adapt import adapt_to_cpu
    raw = raw_tec_checkpoint(tmp_path / 'raw.pth')
    cfg = Config.fromfile(TINY_FT)
    cfg.launcher = 'none'
    adapt_to_cpu(cfg)  # fp32: AMP needs a GPU
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.backbone.input_adapter = True
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'raw.pth')
    cfg.train_dataloader.dataset.data_root = image_folder
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    # a constant lr: the recipe warms up over more iterations than run here
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 1e-3

    class Snapshot(Hook):
        """The backbone's weights once loaded, before the first update."""

        def before_train(self, runner):
            self.start = {k: v.clone() for k, v in
                          runner.model.backbone.state_dict().items()}

    runner = Runner.from_cfg(cfg)
    snapshot = Snapshot()
    runner.register_hook(snapshot)
    runner.train()
    start, end = snapshot.start, runner.model.backbone.state_dict()
    adapter = {'input_adapter.layers.0.0.weight': 'cls_token_mlp.fc1.weight',
               'input_adapter.layers.0.0.bias': 'cls_token_mlp.fc1.bias',
               'input_adapter.layers.1.weight': 'cls_token_mlp.fc2.weight',
               'input_adapter.layers.1.bias': 'cls_token_mlp.fc2.bias'}
    for ours, theirs in adapter.items():
        assert torch.equal(start[ours], raw[theirs]), ours
        assert not torch.allclose(end[ours], start[ours]), ours
    assert torch.equal(start['cls_token'], raw['cls_token'])
    assert not torch.allclose(end['cls_token'], start['cls_token'])
    assert torch.equal(end['pos_embed'], raw['pos_embed'])
    assert runner.iter == 5  # 20 images, batch 4


def test_forward_equals_mmpretrains_vit_with_pre_norm():
    """The fine-tuning ViT feeds its blocks the sequence MMPretrain's own
    ``VisionTransformer`` does (position dropout, then the pre-norm once),
    also for a pre-norm (CLIP-style) ViT."""
    from mmpretrain.models import VisionTransformer

    from mmtec.models import PretrainedVisionTransformer
    torch.manual_seed(0)
    kw = dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                        feedforward_channels=64),
              img_size=32, patch_size=8, pre_norm=True, out_type='cls_token')
    theirs, ours = VisionTransformer(**kw), PretrainedVisionTransformer(**kw)
    with torch.no_grad():
        for p in theirs.pre_norm.parameters():
            p.normal_()
    ours.load_state_dict(theirs.state_dict())
    theirs.eval()
    ours.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ours(x)[0], theirs(x)[0])
