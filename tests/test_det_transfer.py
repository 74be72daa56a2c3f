"""Transfer of a plain ViT into MMDetection (ViTDet-style Mask R-CNN).

Unit tests check values against MMPretrain's ViT; the slow test trains our
config (shrunk) through MMDetection's Runner on a tiny COCO-format set and
evaluates it with CocoMetric (bbox + segm).
"""
import functools
import json
import math
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

from paths import ROOT as REPO
from transfer_helpers import (
    assert_started_from,
    make_plain_vit,
    sample_photo,
    save_mmdet_checkpoint,
    train_at_constant_lr,
)
from vit_checkpoints import convert_tec_checkpoint

pytest.importorskip('mmdet')

from mmengine.registry import init_default_scope  # noqa: E402

import mmtec.det  # noqa: E402,F401
from mmtec.checkpoint import (  # noqa: E402
    BackboneCheckpointError,
    CheckpointLayoutError,
)
from mmtec.converters import canonical_to_mmdet  # noqa: E402
from mmtec.det import SimpleFeaturePyramid, ViTDetBackbone  # noqa: E402
from mmtec.det.vitdet_backbone import (  # noqa: E402
    decomposed_rel_pos_bias,
    window_partition,
    window_unpartition,
)

DET_B = osp.join(REPO, 'configs/mmdet/'
                 'mask-rcnn_vit-b-tec_simplefpn_lsj-1024_coco.py')
DET_L = osp.join(REPO, 'configs/mmdet/'
                 'mask-rcnn_vit-l-tec_simplefpn_lsj-1024_coco.py')
TINY = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
make_plain_vit = functools.partial(make_plain_vit, TINY)


def tiny_backbone(**kwargs):
    cfg = dict(
        img_size=128,
        patch_size=16,
        embed_dims=TINY['embed_dims'],
        num_layers=TINY['num_layers'],
        num_heads=TINY['num_heads'],
        feedforward_channels=TINY['feedforward_channels'],
        drop_path_rate=0.,
        window_size=8,
        global_attn_indexes=(1, ))
    cfg.update(kwargs)
    return ViTDetBackbone(**cfg)


def plain_vit_patch_features(vit, x):
    """MMPretrain's blocks run on the patch tokens only (no class token)."""
    from mmpretrain.models.utils import resize_pos_embed
    tokens, hw = vit.patch_embed(x)
    pos = resize_pos_embed(
        vit.pos_embed, vit.patch_resolution, hw, mode='bicubic')[:, 1:]
    tokens = tokens + pos
    for layer in vit.layers:
        tokens = layer(tokens)
    return tokens.transpose(1, 2).reshape(x.shape[0], -1, *hw)


# --------------------------------------------------------------------------
# converter
# --------------------------------------------------------------------------
def test_canonical_to_mmdet_layout(tmp_path):
    vit = make_plain_vit()
    canonical = vit.state_dict()
    ckpt = canonical_to_mmdet(canonical)
    state = ckpt['state_dict']
    assert 'cls_token' not in state
    assert not any(k.startswith('ln1.') for k in state)
    assert state['pos_embed'].shape == (1, 197, 64)  # 224 table kept
    assert set(state) == set(canonical) - {'cls_token', 'ln1.weight',
                                           'ln1.bias'}
    assert ckpt['meta']['arch']['num_layers'] == 4
    assert sorted(ckpt['meta']['dropped_keys']) == [
        'cls_token', 'ln1.bias', 'ln1.weight'
    ]
    # the file is plain tensors + plain meta: weights_only loading works
    path = str(tmp_path / 'ckpt.pth')
    save_mmdet_checkpoint(canonical, path)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded['state_dict']['layers.2.attn.qkv.bias'],
                       canonical['layers.2.attn.qkv.bias'])


def test_layer_scale_is_folded_exactly():
    vit = make_plain_vit()
    canonical = dict(vit.state_dict())
    g1, g2 = torch.rand(64) + 0.5, torch.rand(64) + 0.5
    canonical['layers.0.attn.gamma1.weight'] = g1
    canonical['layers.0.ffn.gamma2.weight'] = g2
    state = canonical_to_mmdet(canonical)['state_dict']
    assert not any('gamma' in k for k in state)
    x = torch.randn(5, 64)
    w, b = canonical['layers.0.attn.proj.weight'], canonical[
        'layers.0.attn.proj.bias']
    ref = g1 * (x @ w.t() + b)
    out = x @ state['layers.0.attn.proj.weight'].t() + state[
        'layers.0.attn.proj.bias']
    torch.testing.assert_close(out, ref)


# --------------------------------------------------------------------------
# backbone values
# --------------------------------------------------------------------------
@pytest.mark.parametrize('global_idx', [(1, ), ()])
def test_backbone_equals_plain_vit_when_window_covers_grid(
        tmp_path, global_idx):
    """Window = whole 8x8 grid and zero rel-pos tables -> plain ViT."""
    vit = make_plain_vit()
    path = str(tmp_path / 'vitdet.pth')
    save_mmdet_checkpoint(vit.state_dict(), path)
    model = tiny_backbone(
        window_size=8,
        global_attn_indexes=global_idx,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    model.eval()
    report = model.pretrained_load_report
    assert len(report['loaded']) == len(report['expected']) == 51
    assert all(re.search(r'rel_pos_[hw]$', k) for k in report['new'])
    x = torch.randn(2, 3, 128, 128)  # 224 table interpolated to 8x8
    with torch.no_grad():
        out = model(x)
        ref = plain_vit_patch_features(vit, x)
    assert len(out) == 1 and out[0].shape == (2, 64, 8, 8)
    torch.testing.assert_close(out[0], ref, atol=1e-5, rtol=1e-5)


def test_backbone_loads_canonical_file_directly(tmp_path):
    """A canonical (MMPretrain-layout) file loads without conversion."""
    vit = make_plain_vit()
    path = str(tmp_path / 'canonical.pth')
    torch.save({'state_dict': vit.state_dict()}, path)
    model = tiny_backbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert set(model.pretrained_load_report['ignored']) == set()
    torch.testing.assert_close(model.layers[3].ffn.layers[1].weight,
                               vit.layers[3].ffn.layers[1].weight)


def test_window_partition_roundtrip_with_padding():
    x = torch.randn(2, 7, 9, 5)
    windows, pad_hw = window_partition(x, 4)
    assert pad_hw == (8, 12) and windows.shape == (2 * 2 * 3, 4, 4, 5)
    torch.testing.assert_close(window_unpartition(windows, 4, pad_hw, (7, 9)),
                               x)


def test_windowed_block_is_local():
    """Changing tokens in one window leaves the other windows' outputs."""
    torch.manual_seed(0)
    model = tiny_backbone(window_size=4, global_attn_indexes=())
    model.init_weights()
    block = model.layers[0].eval()
    with torch.no_grad():
        for p in (block.attn.rel_pos_h, block.attn.rel_pos_w):
            p.normal_()
        x = torch.randn(1, 8, 8, 64)
        y = x.clone()
        y[:, :4, :4] += torch.randn(1, 4, 4, 64)
        a, b = block(x), block(y)
    assert not torch.allclose(a[:, :4, :4], b[:, :4, :4])
    torch.testing.assert_close(a[:, 4:], b[:, 4:])
    torch.testing.assert_close(a[:, :4, 4:], b[:, :4, 4:])


def test_decomposed_rel_pos_bias_explicit():
    torch.manual_seed(0)
    H, W, C = 3, 4, 5
    q = torch.randn(2, H * W, C)
    rh, rw = torch.randn(2 * H - 1, C), torch.randn(2 * W - 1, C)
    bias = decomposed_rel_pos_bias(q, rh, rw, (H, W))
    ref = torch.zeros(2, H * W, H * W)
    for qh in range(H):
        for qw in range(W):
            for kh in range(H):
                for kw in range(W):
                    qi = q[:, qh * W + qw]
                    ref[:, qh * W + qw, kh * W + kw] = (
                        qi @ rh[qh - kh + H - 1] + qi @ rw[qw - kw + W - 1])
    torch.testing.assert_close(bias, ref)


# --------------------------------------------------------------------------
# refusing checkpoints that do not fit
# --------------------------------------------------------------------------
def test_wrong_width_raises(tmp_path):
    path = str(tmp_path / 'wide.pth')
    save_mmdet_checkpoint(
        make_plain_vit(embed_dims=96, feedforward_channels=192).state_dict(),
        path)
    model = tiny_backbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(BackboneCheckpointError, match='shape-mismatched'):
        model.init_weights()


@pytest.mark.parametrize('ckpt_layers,model_layers,what',
                         [(2, 4, 'missing'), (6, 4, 'unexpected')])
def test_wrong_depth_raises(tmp_path, ckpt_layers, model_layers, what):
    path = str(tmp_path / 'depth.pth')
    save_mmdet_checkpoint(
        make_plain_vit(num_layers=ckpt_layers).state_dict(), path)
    model = tiny_backbone(
        num_layers=model_layers,
        global_attn_indexes=(),
        init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(BackboneCheckpointError, match=what):
        model.init_weights()


def test_unrelated_checkpoint_raises(tmp_path):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'state_dict': nn.Conv2d(3, 8, 3).state_dict()}, path)
    model = tiny_backbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointLayoutError,
                       match='Unknown checkpoint layout.*no ViT patch '
                       'embedding'):
        model.init_weights()


def test_wrong_prefix_raises(tmp_path):
    path = str(tmp_path / 'ok.pth')
    save_mmdet_checkpoint(make_plain_vit().state_dict(), path)
    model = tiny_backbone(
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='encoder.'))
    with pytest.raises(BackboneCheckpointError, match='prefix'):
        model.init_weights()


def test_timm_layout_goes_through_read_vit(tmp_path):
    pytest.importorskip('mmtec.checkpoint')
    vit = make_plain_vit()
    rules = [(r'^patch_embed\.projection\.', 'patch_embed.proj.'),
             (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
             (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
             (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
             (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
             (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
             (r'^ln1\.', 'norm.')]
    timm = {}
    for k, v in vit.state_dict().items():
        for pat, rep in rules:
            k2 = re.sub(pat, rep, k)
            if k2 != k:
                k = k2
                break
        timm[k] = v
    path = str(tmp_path / 'mae.pth')
    torch.save({'model': timm}, path)
    # the converter reads the same file through read_vit
    direct = canonical_to_mmdet(vit.state_dict())['state_dict']
    via_file = canonical_to_mmdet(path)['state_dict']
    assert set(direct) == set(via_file)
    assert all(torch.equal(direct[k], via_file[k]) for k in direct)
    model = tiny_backbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    r = model.pretrained_load_report
    assert len(r['loaded']) == len(r['expected'])


# --------------------------------------------------------------------------
# neck, layer decay, configs
# --------------------------------------------------------------------------
def test_simple_feature_pyramid_strides():
    init_default_scope('mmdet')
    neck = SimpleFeaturePyramid(in_channels=64, out_channels=32, num_outs=5)
    outs = neck((torch.randn(1, 64, 8, 8), ))
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]
    assert all(o.shape[1] == 32 for o in outs)


def test_layer_decay_groups():
    init_default_scope('mmdet')
    from mmdet.registry import OPTIM_WRAPPERS  # noqa: F401
    from mmengine.optim import build_optim_wrapper

    class Det(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = tiny_backbone()
            self.neck = nn.Conv2d(64, 8, 1)

    det = Det()
    wrapper = build_optim_wrapper(
        det,
        dict(
            type='OptimWrapper',
            constructor='ViTDetLayerDecayOptimizerConstructor',
            paramwise_cfg=dict(num_layers=4, decay_rate=0.7),
            optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1)))
    lr_of, wd_of = {}, {}
    for group in wrapper.optimizer.param_groups:
        for name in group['param_names']:
            lr_of[name], wd_of[name] = group['lr'], group['weight_decay']
    assert math.isclose(lr_of['backbone.patch_embed.projection.weight'],
                        1e-4 * 0.7**5)
    assert math.isclose(lr_of['backbone.pos_embed'], 1e-4 * 0.7**5)
    assert math.isclose(lr_of['backbone.layers.0.attn.qkv.weight'],
                        1e-4 * 0.7**4)
    assert math.isclose(lr_of['backbone.layers.3.ffn.layers.1.weight'],
                        1e-4 * 0.7)
    assert math.isclose(lr_of['neck.weight'], 1e-4)
    assert wd_of['backbone.layers.0.attn.qkv.weight'] == 0.1
    assert wd_of['backbone.layers.0.attn.qkv.bias'] == 0.
    assert wd_of['backbone.layers.0.ln1.weight'] == 0.
    assert wd_of['backbone.pos_embed'] == 0.
    assert len(lr_of) == len(list(det.parameters()))


def test_configs_follow_vitdet():
    from mmengine.config import Config
    b, l_ = Config.fromfile(DET_B), Config.fromfile(DET_L)
    assert b.custom_imports == dict(
        imports=['mmtec.det'], allow_failed_imports=False)
    for cfg, dims, depth, rate, glob in [(b, 768, 12, 0.7, (2, 5, 8, 11)),
                                         (l_, 1024, 24, 0.8,
                                          (5, 11, 17, 23))]:
        bb = cfg.model.backbone
        assert (bb.type, bb.embed_dims, bb.num_layers) == ('ViTDetBackbone',
                                                           dims, depth)
        assert tuple(bb.global_attn_indexes) == glob and bb.window_size == 14
        assert bb.init_cfg.type == 'Pretrained'
        assert cfg.model.neck.in_channels == dims
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            num_layers=depth, decay_rate=rate)
        assert cfg.optim_wrapper.constructor == \
            'ViTDetLayerDecayOptimizerConstructor'
        assert cfg.train_cfg.max_iters == 184375
        # resumes skip trained images by index; preemption saves
        assert cfg.train_cfg.type == 'mmpretrain.ResumableIterBasedTrainLoop'
        assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
        assert dict(type='mmpretrain.PreemptionHook') in cfg.custom_hooks
        types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
        assert 'RandomResize' in types and 'RandomCrop' in types
        assert cfg.model.data_preprocessor.pad_size_divisor == 1024
        rr = cfg.train_dataloader.dataset.pipeline[2]
        assert tuple(rr.scale) == (1024, 1024) and tuple(
            rr.ratio_range) == (0.1, 2.0)
        assert cfg.val_evaluator.metric == ['bbox', 'segm']
        assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert l_.model.backbone.init_cfg.checkpoint.endswith('vit-l_mmdet.pth')
    assert b.model.backbone.init_cfg.checkpoint == b.backbone_checkpoint


def test_full_size_vit_b_detector_builds():
    """The real ViT-B config builds; its backbone + neck run."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    init_default_scope('mmdet')
    cfg = Config.fromfile(DET_B)
    model = MODELS.build(cfg.model).eval()  # no init_weights: no file needed
    assert type(model.backbone).__name__ == 'ViTDetBackbone'
    n_params = sum(p.numel() for p in model.backbone.parameters())
    assert 85e6 < n_params < 90e6  # ViT-B
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 256, 256))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4]
    assert all(f.shape[1] == 256 for f in feats)


# --------------------------------------------------------------------------
# end to end: our config through MMDetection's Runner
# --------------------------------------------------------------------------
CLASSES = ('box', 'blob')
CAT_IDS = (3, 7)  # non-contiguous on purpose


def make_coco(root, n_train=4, n_val=2):
    """A tiny COCO-format set: real photo crops with painted objects.

    Masks come as polygons, compressed RLE and uncompressed RLE (crowd).
    """
    import cv2
    import mmcv
    from pycocotools import mask as mask_utils
    photo = sample_photo()
    rng = np.random.RandomState(0)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, n in (('train2017', n_train), ('val2017', n_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, anns = [], []
        for i in range(n):
            h, w = (120, 160) if i % 2 == 0 else (160, 128)
            y0, x0 = rng.randint(0, 600 - 2 * h), rng.randint(0, 512 - w)
            img = cv2.resize(photo[y0:y0 + 2 * h:2, x0:x0 + w], (w, h))
            img = np.ascontiguousarray(img)
            # a rectangle, as a polygon
            bx, by = rng.randint(5, w // 2), rng.randint(5, h // 2)
            bw, bh = rng.randint(20, w // 2 - 2), rng.randint(20, h // 2 - 2)
            poly = [bx, by, bx + bw, by, bx + bw, by + bh, bx, by + bh]
            cv2.fillPoly(img, [np.array(poly).reshape(-1, 2)], (0, 0, 255))
            # a disk, as compressed RLE
            disk = np.zeros((h, w), np.uint8)
            c = (rng.randint(w // 2, w - 20), rng.randint(h // 2, h - 20))
            cv2.circle(disk, c, rng.randint(10, 18), 1, -1)
            img[disk > 0] = (0, 255, 0)
            rle = mask_utils.encode(np.asfortranarray(disk))
            rle['counts'] = rle['counts'].decode()
            image_id = len(images) + 1 + (1000 if split == 'val2017' else 0)
            fname = f'{image_id:012d}.jpg'
            mmcv.imwrite(img, osp.join(root, split, fname))
            images.append(dict(id=image_id, file_name=fname, height=h,
                               width=w))

            def add(seg, cat, bbox, area, crowd=0):
                anns.append(
                    dict(id=len(anns) + 1, image_id=image_id,
                         category_id=cat, segmentation=seg,
                         bbox=[float(v) for v in bbox], area=float(area),
                         iscrowd=crowd))

            add([[float(v) for v in poly]], CAT_IDS[0], [bx, by, bw, bh],
                bw * bh)
            add(rle, CAT_IDS[1],
                mask_utils.toBbox(rle).tolist(), int(disk.sum()))
            if i == 0:  # a crowd region, uncompressed RLE
                crowd = np.zeros((h, w), np.uint8)
                crowd[h - 12:h - 2, 2:30] = 1
                counts, val, run = [], 0, 0
                for v in crowd.flatten(order='F'):
                    if v == val:
                        run += 1
                    else:
                        counts.append(run)
                        val, run = v, 1
                counts.append(run)
                add({'size': [h, w], 'counts': counts}, CAT_IDS[1],
                    [2, h - 12, 28, 10], int(crowd.sum()), crowd=1)
        coco = dict(
            images=images,
            annotations=anns,
            categories=[
                dict(id=i, name=n) for i, n in zip(CAT_IDS, CLASSES)
            ])
        suffix = split.replace('2017', '')
        with open(osp.join(root, 'annotations',
                           f'instances_{suffix}2017.json'), 'w') as f:
            json.dump(coco, f)


def _replace_sizes(pipeline, size):
    for t in pipeline:
        if t['type'] in ('RandomResize', 'Resize'):
            t['scale'] = size
        elif t['type'] == 'RandomCrop':
            t['crop_size'] = size
        elif t['type'] == 'Pad':
            t['size'] = size


def tiny_det_cfg(work_dir, data_root, ckpt, iters=3):
    """Our ViT-B config with a tiny ViT, 128px LSJ and small heads."""
    from mmengine.config import Config
    cfg = Config.fromfile(DET_B)
    size, ch = (128, 128), 64
    cfg.work_dir = work_dir
    cfg.model.backbone.update(
        img_size=size[0],
        window_size=4,
        global_attn_indexes=(1, 3),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt),
        **TINY)
    cfg.model.data_preprocessor.batch_augments[0]['size'] = size
    cfg.model.data_preprocessor.pad_size_divisor = size[0]
    cfg.model.neck.update(in_channels=TINY['embed_dims'], out_channels=ch)
    cfg.model.rpn_head.update(in_channels=ch, feat_channels=ch)
    roi = cfg.model.roi_head
    roi.bbox_roi_extractor.out_channels = ch
    roi.mask_roi_extractor.out_channels = ch
    roi.bbox_head.update(
        in_channels=ch,
        conv_out_channels=ch,
        fc_out_channels=128,
        num_classes=len(CLASSES))
    roi.mask_head.update(
        in_channels=ch, conv_out_channels=ch, num_classes=len(CLASSES))
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=100)
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.test_cfg.rpn.update(nms_pre=300, max_per_img=100)
    cfg.model.test_cfg.rcnn.max_per_img = 20
    for split, loader in (('train2017', cfg.train_dataloader),
                          ('val2017', cfg.val_dataloader)):
        ds = loader.dataset
        ds.update(
            data_root=data_root,
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=split + '/'),
            metainfo=dict(classes=CLASSES))
        _replace_sizes(ds.pipeline, size)
        loader.update(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.filter_cfg = dict(
        filter_empty_gt=True, min_size=8)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = osp.join(data_root,
                                          'annotations/instances_val2017.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(  # the config's loop
        type=cfg.train_cfg.type, max_iters=iters, val_interval=iters)
    # AMP needs a GPU; the layer-decay constructor stays
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.paramwise_cfg.num_layers = TINY['num_layers']
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.log_processor.window_size = 1
    cfg.randomness = dict(seed=0)
    return cfg


def bbox_map_computed_directly(model, cfg, data_root):
    """COCO box mAP and mAP@0.5 of ``val2017``, from ``inference_detector``
    per image and pycocotools' COCOeval on the annotation file."""
    import contextlib
    import io

    from mmdet.apis import inference_detector
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    cfg = cfg.copy()
    cfg.test_dataloader.dataset.pipeline = [
        t for t in cfg.val_dataloader.dataset.pipeline
        if t['type'] != 'LoadAnnotations'
    ]
    model.cfg = cfg
    model.eval()
    ann_file = osp.join(data_root, 'annotations', 'instances_val2017.json')
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
    results = []
    for image in gt.dataset['images']:
        pred = inference_detector(
            model, osp.join(data_root, 'val2017', image['file_name']))
        inst = pred.pred_instances
        for box, score, label in zip(inst.bboxes.tolist(),
                                     inst.scores.tolist(),
                                     inst.labels.tolist()):
            x0, y0, x1, y1 = box
            results.append(dict(image_id=image['id'],
                                category_id=CAT_IDS[label],
                                bbox=[x0, y0, x1 - x0, y1 - y0],
                                score=score))
    if not results:
        return [0.0, 0.0]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(results), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(evaluator.stats[0]), float(evaluator.stats[1])]


@pytest.mark.slow
def test_mask_rcnn_vitdet_trains_and_evaluates(tmp_path):
    data_root = str(tmp_path / 'coco')
    make_coco(data_root)
    # start from a TEC training checkpoint converted by the CLI
    ckpt = convert_tec_checkpoint(make_plain_vit(), tmp_path,
                                  'mmdet')
    cfg = tiny_det_cfg(str(tmp_path / 'work'), data_root, ckpt, iters=20)
    # long enough for some boxes to hit: a non-zero mAP@0.5 to compare
    runner, timer = train_at_constant_lr(cfg)

    report = runner.model.backbone.pretrained_load_report
    assert report is not None
    assert len(report['loaded']) == len(report['expected']) == 51
    assert len(report['new']) == 2 * TINY['num_layers']  # rel_pos_h/w
    assert_started_from(runner, ckpt)

    metrics = timer.metrics
    assert metrics is not None
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50',
                'coco/segm_mAP_50'):
        assert key in metrics and math.isfinite(metrics[key]), metrics
    # the val loop's box mAP equals pycocotools' on MMDetection's
    # single-image inference API, category ids mapped here
    direct = bbox_map_computed_directly(runner.model, cfg, data_root)
    print(f'\n[det e2e] bbox mAP, mAP_50 from the runner '
          f'{metrics["coco/bbox_mAP"]}, {metrics["coco/bbox_mAP_50"]}; '
          f'computed directly {direct}')
    assert direct[1] > 0  # some boxes hit: not 0 == 0
    assert [metrics['coco/bbox_mAP'], metrics['coco/bbox_mAP_50']] == \
        pytest.approx(direct, abs=6e-4)
    print(f'\n[det e2e] train iteration wall times (s): '
          f'{[round(t, 3) for t in timer.times]}; backbone keys loaded '
          f'{len(report["loaded"])}/{len(report["expected"])}')
