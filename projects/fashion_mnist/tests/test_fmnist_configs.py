"""The Fashion-MNIST project's configs: the demo's schedule and model."""
import math
import os

import pytest
from mmengine.config import Config

from mmtec.models import TEC
from mmtec.registry import MODELS
from paths import ROOT
from test_configs import scheduled_lrs


def test_demo_schedule():
    cfg = Config.fromfile(os.path.join(ROOT, 'projects', 'fashion_mnist',
                                       'configs', 'tec_vit-t6-p4_fmnist.py'))
    warmup, cosine = cfg.param_scheduler
    assert (warmup.start_factor, warmup.end, cosine.begin) == (1e-3, 1, 1)
    lrs = scheduled_lrs(cfg, 6, epoch_length=10)
    assert lrs[1] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-3 * (1 + math.cos(math.pi * 4 / 5)) / 2)


def test_demo_tec_model_resolves_as_before():
    """The demo's widths, now stated once, resolve to its earlier values."""
    cfg = Config.fromfile(os.path.join(ROOT, 'projects', 'fashion_mnist',
                                       'configs', 'tec_vit-t6-p4_fmnist.py'))
    m = cfg.model
    backbone, neck, base = TEC.derive_settings(m.backbone, m.neck,
                                               m.target_generator)
    assert (neck['num_patches'], neck['in_channels']) == (49, 192)
    assert (base['img_size'], base['patch_size']) == (28, 4)
    assert backbone.encoder_adapter.num_adapters == 2
    hidden = backbone.encoder_adapter.mlps[0].layers[0][0]
    assert hidden.out_features == 512
    # tau inherited from the attention loss's default, fp32 base weights
    assert MODELS.build(m.head.loss_attention).tau == 1.8
    assert m.target_generator.get('weights_dtype') is None
