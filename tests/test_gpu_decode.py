"""The GPU JPEG data path: its config switch, fallback and augmentation."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

import mmtec  # noqa: F401
from mmtec.datasets import PackJPEGBytes
from mmtec.models.utils import (
    GPUJPEGDataPreprocessor,
    random_resized_crop_params,
)
from mmtec.run_config import adapt
from paths import ROOT

RECIPE = os.path.join(ROOT, 'configs', 'tec_vit-b_800e_in1k.py')


def recipe(**kwargs):
    cfg = Config.fromfile(RECIPE)
    cfg.merge_from_dict(kwargs)
    return cfg


def test_without_gpu_the_cpu_pipeline_stays_with_a_message(monkeypatch):
    messages = []
    monkeypatch.setattr(adapt, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = recipe(gpu_decode=True)
    before = [dict(t) for t in cfg.train_dataloader.dataset.pipeline]
    assert adapt.apply_gpu_decode(cfg) is False
    assert [dict(t) for t in cfg.train_dataloader.dataset.pipeline] == before
    assert 'data_preprocessor' not in cfg.model
    assert len(messages) == 1 and 'no CUDA device' in messages[0] and \
        'CPU data pipeline' in messages[0]
    # the switch off: nothing happens, nothing is said
    assert adapt.apply_gpu_decode(recipe()) is False
    assert len(messages) == 1


def test_switch_moves_the_recipe_augmentation_to_the_device(monkeypatch):
    monkeypatch.setattr(adapt, 'gpu_jpeg_decode_unavailable', lambda: '')
    cfg = recipe(gpu_decode=True)
    assert adapt.apply_gpu_decode(cfg) is True
    assert cfg.train_dataloader.dataset.pipeline == [
        dict(type='PackJPEGBytes')]
    assert cfg.train_dataloader.collate_fn.type == 'pseudo_collate'
    pre = cfg.model.data_preprocessor
    assert pre.type == 'GPUJPEGDataPreprocessor'
    assert pre.crop_size == 224 and pre.scale == (0.2, 1.0)
    assert pre.ratio == pytest.approx((3 / 4, 4 / 3))
    assert pre.flip_prob == 0.5
    assert list(pre.mean) == [123.675, 116.28, 103.53]


def test_crop_parameters_follow_scale_and_ratio():
    torch.manual_seed(0)
    for _ in range(300):
        top, left, h, w = random_resized_crop_params(375, 500, (0.2, 1.0),
                                                     (3 / 4, 4 / 3))
        assert 0 <= top <= 375 - h and 0 <= left <= 500 - w
        assert 0.2 * 0.98 <= h * w / (375 * 500) <= 1.0
        assert 3 / 4 * 0.97 <= w / h <= 4 / 3 * 1.03
    # impossible ratio: the largest centred crop with the ratio clipped
    assert random_resized_crop_params(100, 400, (0.99, 1.0),
                                      (1.0, 1.0)) == (0, 150, 100, 100)


def jpeg_batch(tmp_path, arrays):
    samples = []
    for i, arr in enumerate(arrays):
        path = tmp_path / f'{i}.jpg'
        Image.fromarray(arr).save(path, quality=95)
        samples.append(PackJPEGBytes()(dict(img_path=str(path))))
    return pseudo_collate(samples)


def test_preprocessor_decodes_crops_flips_and_normalises(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.asarray(Image.fromarray(
        rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            (64, 48), Image.BICUBIC))
    flat = np.full((48, 64, 3), (200, 100, 50), dtype=np.uint8)
    data = jpeg_batch(tmp_path, [smooth, flat])
    assert data['inputs'][0].dtype == torch.uint8
    # whole image (scale 1, the image's own ratio), always flipped
    pre = GPUJPEGDataPreprocessor(crop_size=32, scale=(1., 1.),
                                  ratio=(4 / 3, 4 / 3), flip_prob=1.)
    out = pre(data, True)['inputs']
    assert out.shape == (2, 3, 32, 32) and out.dtype == torch.float32
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    decoded = torch.from_numpy(np.asarray(Image.open(tmp_path / '0.jpg')))
    expected = F.interpolate(decoded.permute(2, 0, 1)[None].float(),
                             size=(32, 32), mode='bicubic',
                             antialias=True)[0].clamp(0, 255).flip(-1)
    torch.testing.assert_close(out[0], (expected - mean) / std, rtol=0,
                               atol=2 / 57)  # 2 grey levels (decoders)
    # a flat RGB image stays its colour, in RGB order, normalised
    colour = (torch.tensor([200., 100., 50.]).view(3, 1, 1) - mean) / std
    assert (out[1] - colour).abs().max() < 3 / 57
    # the random crop differs from image to image, the flip is random
    pre = GPUJPEGDataPreprocessor(crop_size=16)
    torch.manual_seed(1)
    a = pre(jpeg_batch(tmp_path, [smooth] * 4), True)['inputs']
    assert not torch.allclose(a[0], a[1])
    assert math.isfinite(a.sum().item())
    # ordinary tensor batches pass through the usual preprocessing
    plain = pre(dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8)],
                     data_samples=[None]), True)
    assert plain['inputs'][0].shape == (3, 4, 4)
