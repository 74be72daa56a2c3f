"""Transfer of a plain ViT into MMSegmentation (UperNet, MAE recipe).

Unit tests check that the converted ``MAE`` backbone reproduces the
MMPretrain ViT it came from; the slow test trains our config (shrunk)
through MMSegmentation's Runner on a tiny ADE20K-layout folder and
evaluates mIoU with IoUMetric.
"""
import functools
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn

from transfer_helpers import (
    assert_started_from,
    make_plain_vit,
    sample_photo,
    save_mmseg_checkpoint,
    train_at_constant_lr,
)
from vit_checkpoints import convert_tec_checkpoint

pytest.importorskip('mmseg')


import mmtec.seg  # noqa: E402,F401
from mmtec.checkpoint import (  # noqa: E402
    BackboneCheckpointError,
    CheckpointLayoutError,
)
from mmtec.converters import canonical_to_mmseg  # noqa: E402
from mmtec.seg import CheckedMAE  # noqa: E402
from paths import ROOT as REPO

SEG_CFG = osp.join(REPO, 'configs/mmseg/'
                   'upernet_vit-b-tec_8xb2-amp-160k_ade20k-512x512.py')
TINY = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256)
make_plain_vit = functools.partial(make_plain_vit, TINY)


def tiny_mae(img_size=128, **kwargs):
    cfg = dict(
        img_size=img_size,
        embed_dims=TINY['embed_dims'],
        num_layers=TINY['num_layers'],
        num_heads=TINY['num_heads'],
        mlp_ratio=TINY['feedforward_channels'] // TINY['embed_dims'],
        norm_cfg=dict(type='LN', eps=1e-6),
        init_values=0.1,  # the converter's gamma = 1 must win over this
        out_indices=[1, 3])
    cfg.update(kwargs)
    return CheckedMAE(**cfg)


def test_canonical_to_mmseg_layout(tmp_path):
    vit = make_plain_vit()
    canonical = vit.state_dict()
    ckpt = canonical_to_mmseg(canonical)
    state = ckpt['state_dict']
    assert 'ln1.weight' not in state and 'cls_token' in state
    # mmseg's MAE keeps a full fused qkv bias (no q_bias/v_bias split)
    assert state['layers.0.attn.qkv.bias'].shape == (192, )
    assert not any(k.endswith(('q_bias', 'v_bias')) for k in state)
    for i in range(4):
        assert torch.equal(state[f'layers.{i}.gamma_1'], torch.ones(64))
        assert torch.equal(state[f'layers.{i}.gamma_2'], torch.ones(64))
    # the keys are exactly those of mmseg's MAE minus the new-by-design ones
    from mmseg.models.backbones import MAE
    mae_keys = set(
        MAE(img_size=224,
            embed_dims=64,
            num_layers=4,
            num_heads=4,
            mlp_ratio=4).state_dict())
    new = {k for k in mae_keys if 'relative_position' in k}
    assert set(state) == mae_keys - new
    path = str(tmp_path / 'seg.pth')
    save_mmseg_checkpoint(canonical, path)
    assert torch.load(path, weights_only=True)['meta']['layout'] == 'mmseg.MAE'


@pytest.mark.parametrize('img_size', [224, 128])
def test_converted_mae_reproduces_plain_vit(tmp_path, img_size):
    """Same patch features as the MMPretrain ViT (224 table resized)."""
    vit = make_plain_vit(
        out_type='featmap', final_norm=False, out_indices=(1, 3))
    path = str(tmp_path / 'seg.pth')
    save_mmseg_checkpoint(vit.state_dict(), path)
    mae = tiny_mae(
        img_size=img_size, init_cfg=dict(type='Pretrained', checkpoint=path))
    mae.init_weights()
    mae.eval()
    report = mae.pretrained_load_report
    assert len(report['loaded']) == len(report['expected']) == 60
    assert all('relative_position' in k for k in report['new'])
    x = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        ours, ref = mae(x), vit(x)
    assert len(ours) == len(ref) == 2
    for a, b in zip(ours, ref):
        assert a.shape == b.shape == (2, 64, img_size // 16, img_size // 16)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_layer_scale_maps_to_gamma():
    canonical = dict(make_plain_vit().state_dict())
    g = torch.rand(64)
    canonical['layers.1.attn.gamma1.weight'] = g
    state = canonical_to_mmseg(canonical)['state_dict']
    assert torch.equal(state['layers.1.gamma_1'], g)
    assert 'layers.1.attn.gamma1.weight' not in state


def test_bad_checkpoints_raise(tmp_path):
    wide = str(tmp_path / 'wide.pth')
    save_mmseg_checkpoint(
        make_plain_vit(embed_dims=96, feedforward_channels=384).state_dict(),
        wide)
    with pytest.raises(BackboneCheckpointError, match='shape-mismatched'):
        tiny_mae(init_cfg=dict(type='Pretrained',
                               checkpoint=wide)).init_weights()
    shallow = str(tmp_path / 'shallow.pth')
    save_mmseg_checkpoint(make_plain_vit(num_layers=2).state_dict(), shallow)
    with pytest.raises(BackboneCheckpointError, match='missing'):
        tiny_mae(init_cfg=dict(type='Pretrained',
                               checkpoint=shallow)).init_weights()
    other = str(tmp_path / 'conv.pth')
    torch.save({'state_dict': nn.Conv2d(3, 8, 3).state_dict()}, other)
    with pytest.raises(CheckpointLayoutError,
                       match='Unknown checkpoint layout.*no ViT patch '
                       'embedding'):
        tiny_mae(init_cfg=dict(type='Pretrained',
                               checkpoint=other)).init_weights()


def test_mmseg_layer_decay_sees_a_vit():
    """MMSeg's LayerDecayOptimizerConstructor recognises CheckedMAE."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')

    class Seg(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = tiny_mae()
            self.decode_head = nn.Conv2d(64, 8, 1)

    wrapper = build_optim_wrapper(
        Seg(),
        dict(
            type='OptimWrapper',
            constructor='LayerDecayOptimizerConstructor',
            paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.65),
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
    lr_of = {
        n: g['lr']
        for g in wrapper.optimizer.param_groups for n in g['param_names']
    }
    assert math.isclose(lr_of['backbone.layers.3.attn.qkv.weight'],
                        1e-4 * 0.65)
    assert math.isclose(lr_of['backbone.patch_embed.projection.weight'],
                        1e-4 * 0.65**5)
    assert math.isclose(lr_of['decode_head.weight'], 1e-4)


def test_config_follows_mmseg_mae_recipe():
    from mmengine.config import Config
    cfg = Config.fromfile(SEG_CFG)
    assert cfg.custom_imports['imports'] == ['mmtec.seg']
    bb = cfg.model.backbone
    assert bb.type == 'CheckedMAE' and tuple(bb.img_size) == (512, 512)
    assert (bb.embed_dims, bb.num_layers, bb.num_heads) == (768, 12, 12)
    assert bb.init_values == 1.0 and list(bb.out_indices) == [3, 5, 7, 11]
    assert bb.init_cfg == dict(
        type='Pretrained', checkpoint=cfg.backbone_checkpoint)
    assert cfg.model.pretrained is None
    assert cfg.model.neck.type == 'Feature2Pyramid'
    assert cfg.model.decode_head.type == 'UPerHead'
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.constructor == 'LayerDecayOptimizerConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    assert cfg.train_cfg.max_iters == 160000
    # resumes skip trained images by index; preemption saves
    assert cfg.train_cfg.type == 'mmpretrain.ResumableIterBasedTrainLoop'
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    assert cfg.custom_hooks == [dict(type='mmpretrain.PreemptionHook')]
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.type == 'ADE20KDataset'


def test_full_size_config_builds():
    """The real config builds; the ViT-B backbone + neck run at 512."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(SEG_CFG)
    model = MODELS.build(cfg.model).eval()  # no init_weights: no file needed
    assert type(model.backbone).__name__ == 'CheckedMAE'
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 512, 512))
    assert [tuple(f.shape[1:]) for f in feats] == [(768, 128, 128),
                                                   (768, 64, 64),
                                                   (768, 32, 32),
                                                   (768, 16, 16)]


# --------------------------------------------------------------------------
# end to end: our config through MMSegmentation's Runner
# --------------------------------------------------------------------------
def make_ade(root, n_train=4, n_val=2):
    """ADE20K folder layout with painted regions; labels 0 (ignore)..150."""
    import cv2
    import mmcv
    photo = sample_photo()
    rng = np.random.RandomState(0)
    for split, n in (('training', n_train), ('validation', n_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(n):
            h, w = (96, 128) if i % 2 == 0 else (128, 96)
            y0, x0 = rng.randint(0, 600 - h), rng.randint(0, 512 - w)
            img = np.ascontiguousarray(photo[y0:y0 + h, x0:x0 + w])
            label = np.full((h, w), 1 + (i % 3), np.uint8)  # background
            label[:6] = 0  # an unlabelled strip (ignored after reduction)
            for cls, color in ((5, (255, 0, 0)), (13, (0, 200, 0)),
                               (150, (0, 0, 255))):
                m = np.zeros((h, w), np.uint8)
                c = (rng.randint(15, w - 15), rng.randint(15, h - 15))
                cv2.circle(m, c, rng.randint(8, 20), 1, -1)
                label[m > 0] = cls
                img[m > 0] = (0.5 * img[m > 0] + 0.5 * np.array(color))
            name = f'ADE_{split[:5]}_{i:08d}'
            mmcv.imwrite(img, osp.join(root, 'images', split, name + '.jpg'))
            cv2.imwrite(
                osp.join(root, 'annotations', split, name + '.png'), label)


def tiny_seg_cfg(work_dir, data_root, ckpt, iters=3):
    """Our config with a tiny ViT, 64x64 crops and thin heads."""
    from mmengine.config import Config
    cfg = Config.fromfile(SEG_CFG)
    crop, dims = (64, 64), TINY['embed_dims']
    cfg.work_dir = work_dir
    cfg.model.data_preprocessor.size = crop
    cfg.model.backbone.update(
        img_size=crop,
        embed_dims=dims,
        num_layers=TINY['num_layers'],
        num_heads=TINY['num_heads'],
        mlp_ratio=TINY['feedforward_channels'] // dims,
        out_indices=[0, 1, 2, 3],
        init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    cfg.model.neck.embed_dim = dims
    cfg.model.decode_head.update(in_channels=[dims] * 4, channels=32)
    cfg.model.auxiliary_head.update(in_channels=dims, channels=16)
    cfg.model.test_cfg = dict(mode='slide', crop_size=crop, stride=(43, 43))
    for split, loader in (('training', cfg.train_dataloader),
                          ('validation', cfg.val_dataloader)):
        ds = loader.dataset
        ds.update(
            data_root=data_root,
            data_prefix=dict(
                img_path=f'images/{split}',
                seg_map_path=f'annotations/{split}'))
        for t in ds.pipeline:
            if t['type'] in ('RandomResize', 'Resize'):
                t['scale'] = (256, 64)
            elif t['type'] == 'RandomCrop':
                t['crop_size'] = crop
        loader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(  # the config's loop
        type=cfg.train_cfg.type, max_iters=iters, val_interval=iters)
    # AMP needs a GPU; mmseg's layer-decay constructor stays
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=cfg.optim_wrapper.optimizer,
        constructor=cfg.optim_wrapper.constructor,
        paramwise_cfg=dict(num_layers=TINY['num_layers'],
                           layer_decay_rate=0.65))
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.log_processor = dict(by_epoch=False, window_size=1)
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.slow
def miou_computed_directly(model, cfg, data_root, num_classes=150):
    """mIoU (%) over ``annotations/validation``: ADE20K's label reduction
    (0 ignored, k -> k - 1), per-class IoU summed over images, mean over
    the classes present in labels or predictions."""
    import cv2
    from mmseg.apis import inference_model
    cfg = cfg.copy()
    cfg.test_pipeline = [
        t for t in cfg.val_dataloader.dataset.pipeline
        if t['type'] != 'LoadAnnotations'
    ]
    model.cfg = cfg
    model.eval()
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    folder = osp.join(data_root, 'images', 'validation')
    files = sorted(os.listdir(folder))
    assert len(files) == 2
    for name in files:
        pred = inference_model(model, osp.join(folder, name))
        pred = pred.pred_sem_seg.data[0].cpu().numpy()
        label = cv2.imread(
            osp.join(data_root, 'annotations', 'validation',
                     name.replace('.jpg', '.png')),
            cv2.IMREAD_UNCHANGED).astype(np.int64) - 1
        valid = label >= 0
        for c in range(num_classes):
            p, g = (pred == c) & valid, (label == c) & valid
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
    present = union > 0
    return 100.0 * float((inter[present] / union[present]).mean())


def test_upernet_mae_trains_and_evaluates(tmp_path):
    data_root = str(tmp_path / 'ade')
    make_ade(data_root)
    # start from a TEC training checkpoint converted by the CLI
    ckpt = convert_tec_checkpoint(make_plain_vit(img_size=224), tmp_path,
                                  'mmseg')
    cfg = tiny_seg_cfg(str(tmp_path / 'work'), data_root, ckpt, iters=40)
    # long enough to predict the background classes: a non-zero mIoU
    runner, timer = train_at_constant_lr(cfg)

    report = runner.model.backbone.pretrained_load_report
    assert report is not None
    assert len(report['loaded']) == len(report['expected']) == 60
    assert_started_from(runner, ckpt)

    metrics = timer.metrics
    assert metrics is not None and 'mIoU' in metrics, metrics
    # the val loop's mIoU equals one computed here from MMSegmentation's
    # single-image inference API and the label PNGs read directly
    direct = miou_computed_directly(runner.model, cfg, data_root)
    print(f'\n[seg e2e] mIoU from the runner {metrics["mIoU"]}, computed '
          f'directly {direct:.4f}')
    assert direct > 1  # predictions overlap the labels: not 0 == 0
    assert metrics['mIoU'] == pytest.approx(direct, abs=0.006)
    print(f'\n[seg e2e] train iteration wall times (s): '
          f'{[round(t, 3) for t in timer.times]}; backbone keys loaded '
          f'{len(report["loaded"])}/{len(report["expected"])}')


class _LoadCount:
    """Counts the items a dataset's class loads (``dataset[i]`` looks
    ``__getitem__`` up on the class)."""

    def __init__(self, dataset, monkeypatch):
        self.n, get = 0, type(dataset).__getitem__

        def counted(ds, i):
            self.n += 1
            return get(ds, i)

        monkeypatch.setattr(type(dataset), '__getitem__', counted)


@pytest.mark.slow
def test_preempted_segmentation_run_saves_and_resumes_by_index(tmp_path,
                                                             monkeypatch):
    """The MMSegmentation config's loop and PreemptionHook on MMSeg's
    runner: a SIGUSR1 saves ``preempted_iter_2.pth`` and exits with 75;
    ``--resume`` continues at iteration 2 and loads only the images of the
    iterations left."""
    import signal

    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmtec.checkpoint import safe_load
    from mmtec.engine.hooks.preemption_hook import Preempted

    class SignalAt(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == 1:
                # unhandled, it would end the test run, not fail a test
                assert callable(signal.getsignal(signal.SIGUSR1))
                os.kill(os.getpid(), signal.SIGUSR1)

    data_root = str(tmp_path / 'ade')
    make_ade(data_root)
    ckpt = convert_tec_checkpoint(make_plain_vit(img_size=224), tmp_path,
                                  'mmseg')
    work = str(tmp_path / 'work')
    cfg = tiny_seg_cfg(work, data_root, ckpt, iters=4)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.register_hook(SignalAt(), priority='NORMAL')
    with pytest.raises(Preempted) as stop:
        runner.train()
    assert stop.value.code == 75
    saved = osp.join(work, 'preempted_iter_2.pth')
    assert safe_load(saved)['meta']['iter'] == 2

    cfg = tiny_seg_cfg(work, data_root, ckpt, iters=4)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.resume, cfg.load_from = True, saved
    runner = Runner.from_cfg(cfg)
    loads = _LoadCount(runner.train_dataloader.dataset, monkeypatch)
    runner.train()
    assert safe_load(osp.join(work, 'iter_4.pth'))['meta']['iter'] == 4
    # 2 iterations left, 2 images each: the trained 4 are skipped by index
    assert loads.n == 2 * cfg.train_dataloader.batch_size
    assert not osp.exists(saved)  # superseded by iter_4.pth
