"""Every config parses, and the pretraining recipes are the paper's (the
recipe table of docs/algorithm.md), each naming its base model by release."""
import glob
import os

import pytest
import torch
from mmengine.config import Config

from mmtec.models import TEC
from mmtec.registry import MODELS
from paths import ROOT

ALL = sorted(
    p for pattern in ('configs/**/*.py', 'projects/*/configs/*.py')
    for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)
    if '_base_' not in p)

# config: (new arch, base arch, topk, tau, epochs)
RECIPES = {
    'tec_vit-b_800e_in1k.py': ('b', 'b', 15, 1.8, 800),
    'tec_vit-b_300e_in1k.py': ('b', 'b', 15, 1.8, 300),
    'tec_vit-b_mae300e-base_100e_in1k.py': ('b', 'b', 15, 1.8, 100),
    'tec_vit-b_ibot-base_300e_in1k.py': ('b', 'b', 9, 1.0, 300),
    'tec_vit-b_ibot-base_800e_in1k.py': ('b', 'b', 9, 1.0, 800),
    'tec_vit-l_300e_in1k.py': ('l', 'l', 15, 1.4, 300),
    # bases that are not in the paper: the arch comes from the file
    'tec_vit-b_dinov2-base_300e_in1k.py': ('b', None, 9, 1.0, 300),
    'tec_vit-b_clip-base_300e_in1k.py': ('b', None, 15, 1.8, 300),
}


@pytest.mark.parametrize('path', ALL, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert cfg.get('model') or cfg.get('train_dataloader') or \
        cfg.get('test_dataloader')


TRAINING = [p for p in ALL if 'train_cfg' in Config.fromfile(p)]


@pytest.mark.parametrize('path', TRAINING,
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_every_training_config_saves_crash_safe(path):
    """Pretraining, fine-tuning, detection and segmentation runs all save
    through AtomicCheckpointHook, found from the config's own scope."""
    from mmengine.registry import HOOKS

    import mmtec.engine.hooks  # noqa: F401  (registration)
    from mmtec.engine.hooks import AtomicCheckpointHook
    cfg = Config.fromfile(path)
    hook = cfg.default_hooks.checkpoint
    scope = hook.get('_scope_', cfg.get('default_scope'))
    with HOOKS.switch_scope_and_registry(scope) as registry:
        assert registry.get(hook.type) is AtomicCheckpointHook


MAE_RELEASE = 'https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_'
# the iBOT README's download link of the ViT-B/16 teacher
IBOT_TEACHER = ('https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/'
                'archive/2022/ibot/vitb_16/checkpoint_teacher.pth')
BASES = {
    'tec_vit-b_800e_in1k.py': MAE_RELEASE + 'base.pth',
    'tec_vit-b_300e_in1k.py': MAE_RELEASE + 'base.pth',
    'tec_vit-b_ibot-base_300e_in1k.py': IBOT_TEACHER,
    'tec_vit-b_ibot-base_800e_in1k.py': IBOT_TEACHER,
    'tec_vit-l_300e_in1k.py': MAE_RELEASE + 'large.pth',
    'tec_vit-b_dinov2-base_300e_in1k.py': 'https://dl.fbaipublicfiles.com/'
    'dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth',
    # OpenAI's CLIP ViT-B/16 in OpenCLIP's layout, open_clip's download
    'tec_vit-b_clip-base_300e_in1k.py': 'https://huggingface.co/timm/'
    'vit_base_patch16_clip_224.openai/resolve/main/'
    'open_clip_pytorch_model.bin',
    # no public release: the recipe says how to make it
    'tec_vit-b_mae300e-base_100e_in1k.py':
    'work_dirs/mae_vit-b_300e/epoch_300.pth',
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_names_its_base_by_release(name):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    assert cfg.model.target_generator.checkpoint == BASES[name]
    if not BASES[name].startswith('https://'):
        with open(os.path.join(ROOT, 'configs', name)) as f:
            assert 'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py' in f.read()


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_pretraining_recipe(name):
    arch, base_arch, topk, tau, epochs = RECIPES[name]
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    m = cfg.model
    assert m.type == 'TEC' and m.use_attention_target
    assert m.backbone.arch == arch and m.backbone.mask_ratio == 0.75
    assert m.target_generator.arch == base_arch
    assert m.target_generator.last_layers == 2
    assert m.target_generator.topk == topk
    assert MODELS.build(m.head.loss_attention).tau == tau
    assert m.head.loss_feature.loss_weight == 1.0
    assert m.head.loss_attention.loss_weight == 1.0
    assert m.neck.num_layers == 2
    assert m.neck.embed_dims == (768 if arch == 'l' else 512)
    assert cfg.train_cfg.max_epochs == epochs

    # what TEC derives from the backbone and the decoder
    backbone, neck, base = TEC.derive_settings(m.backbone, m.neck,
                                               m.target_generator)
    width = 1024 if arch == 'l' else 768
    assert neck['in_channels'] == backbone.embed_dims == width
    assert neck['num_patches'] == 196
    assert base['img_size'] == 224 and base['patch_size'] == 16
    adapter = backbone.encoder_adapter
    assert adapter.num_adapters == (24 if arch == 'l' else 12) // 3
    hidden = adapter.mlps[0].layers[0][0]
    assert (hidden.in_features, hidden.out_features) == \
        (width, 4 * m.neck.embed_dims)
    assert adapter.norm_in.eps == adapter.norm_out.eps == 1e-5
    assert backbone.ln1.eps == 1e-6

    # 40 warm-up epochs, then cosine to 0 at the recipe's last epoch
    lrs = scheduled_lrs(cfg, epochs)
    peak = cfg.optim_wrapper.optimizer.lr
    assert lrs[0] == 0 and lrs[20] == peak / 2
    assert lrs[40] == peak
    mid = 40 + (epochs - 40) // 2
    assert lrs[mid] == pytest.approx(peak / 2, rel=1e-12)
    assert lrs[epochs - 1] < peak * 1e-3
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.accumulative_counts == 2
    assert ow.optimizer.betas == (0.9, 0.95)
    assert ow.optimizer.weight_decay == 0.05
    assert ow.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert cfg.train_dataloader.batch_size == 256
    assert cfg.auto_scale_lr.base_batch_size == 4096
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.crop_ratio_range == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'


def scheduled_lrs(cfg, epochs, epoch_length=1):
    """The lr at the start of every epoch under ``cfg.param_scheduler``,
    built as MMEngine's Runner builds it (``end`` defaults to
    ``max_epochs``), stepped every iteration."""
    from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

    from mmtec.registry import PARAM_SCHEDULERS as TEC_SCHEDULERS
    init_default_scope('mmpretrain')
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        sched.setdefault('end', epochs)
        if sched.pop('convert_to_iter_based', False):  # as the Runner does
            schedulers.append(TEC_SCHEDULERS.get(
                sched.pop('type')).build_iter_from_epoch(
                    optimizer, epoch_length=epoch_length, **sched))
            continue
        schedulers.append(PARAM_SCHEDULERS.build(
            sched, default_args=dict(optimizer=optimizer,
                                     epoch_length=epoch_length)))
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        for _ in range(epoch_length):
            optimizer.step()
            for sched in schedulers:
                sched.step()
    return lrs


def test_short_run_of_a_recipe_builds_its_schedule():
    """A 2-epoch smoke run of a recipe with 40 warm-up epochs."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs',
                                       'tec_vit-b_800e_in1k.py'))
    lrs = scheduled_lrs(cfg, 2)
    peak = cfg.optim_wrapper.optimizer.lr
    # still warming up: from 0, 1/40 of the way up after one epoch
    assert lrs == [0, peak * 1 / 40]
