"""Every config parses, and the pretraining recipes are TEC_SPEC's."""
import glob
import os

import pytest
from mmengine.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = sorted(
    p for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)

# config: (new arch, base arch, topk, tau, epochs)
RECIPES = {
    'tec_vit-b_800e_in1k.py': ('b', 'b', 15, 1.8, 800),
    'tec_vit-b_300e_in1k.py': ('b', 'b', 15, 1.8, 300),
    'tec_vit-b_mae300e-base_100e_in1k.py': ('b', 'b', 15, 1.8, 100),
    'tec_vit-b_ibot-base_300e_in1k.py': ('b', 'b', 9, 1.0, 300),
    'tec_vit-b_ibot-base_800e_in1k.py': ('b', 'b', 9, 1.0, 800),
    'tec_vit-l_300e_in1k.py': ('l', 'l', 15, 1.4, 300),
}


@pytest.mark.parametrize('path', ALL, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert cfg.get('model') or cfg.get('train_dataloader') or \
        cfg.get('test_dataloader')


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
    assert m.head.loss_attention.tau == tau
    assert m.head.loss_feature.loss_weight == 1.0
    assert m.head.loss_attention.loss_weight == 1.0
    assert m.neck.num_layers == 2
    assert m.neck.embed_dims == (768 if arch == 'l' else 512)
    assert m.backbone.num_adapters == (24 if arch == 'l' else 12) // 3
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin == 40
    assert cosine.end == epochs and cosine.T_max == epochs - 40
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
