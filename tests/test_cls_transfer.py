"""Classification transfer: converted TEC backbones in MMPretrain."""
import os
import subprocess
import sys

import pytest
import torch

from fmnist_lab import export_image_folder
from mmtec.registry import MODELS
from paths import ROOT
from timeouts import TOOL_S, TRAIN_S
from vit_checkpoints import IMG, PATCH, TINY_ARCH, layouts, random_vit

FT_CFG = os.path.join(ROOT, 'tests', 'data', 'finetune_vit-tiny_test.py')


def backbone(checkpoint=None, **kwargs):
    cfg = dict(type='PretrainedVisionTransformer', arch=TINY_ARCH,
               img_size=IMG, patch_size=PATCH, out_type='avg_featmap',
               final_norm=False, **kwargs)
    if checkpoint:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=str(checkpoint),
                               prefix='backbone.')
    return MODELS.build(cfg)


@pytest.mark.parametrize('layout', ['tec_raw', 'tec_released', 'mmpretrain'])
def test_backbone_loads_every_tec_layout(tmp_path, layout):
    vit = random_vit()
    ckpt, expected = layouts(vit)[layout]
    torch.save(ckpt, tmp_path / 'tec.pth')
    model = backbone(tmp_path / 'tec.pth')
    model.init_weights()
    for key, value in model.state_dict().items():
        if key.startswith('ln2.'):
            continue  # fc_norm: new by design
        torch.testing.assert_close(value, expected[key], msg=key)


def test_backbone_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    ckpt, _ = layouts(random_vit())['mae']
    del ckpt['model']['blocks.2.mlp.fc2.weight']
    torch.save(ckpt, tmp_path / 'broken.pth')
    model = backbone(tmp_path / 'broken.pth')
    from mmtec.checkpoint import BackboneCheckpointError
    with pytest.raises(BackboneCheckpointError) as err:
        model.init_weights()
    assert 'does not fit PretrainedVisionTransformer: 1 missing, 0 ' \
        'unexpected' in str(err.value)
    assert "missing: ['layers.2.ffn.layers.1.weight']" in str(err.value)


def test_released_layout_loads_through_load_state_dict(tmp_path):
    """``get_model(name, pretrained=file)`` loads the whole classifier."""
    vit = random_vit()
    released, expected = layouts(vit)['tec_released']
    model = MODELS.build(dict(
        type='TECImageClassifier',
        backbone=dict(type='PretrainedVisionTransformer', arch=TINY_ARCH,
                      img_size=IMG, patch_size=PATCH,
                      out_type='avg_featmap', final_norm=False),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    torch.save(released, tmp_path / 'tec_released.pth')
    # what get_model does with a local file
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, str(tmp_path / 'tec_released.pth'))
    torch.testing.assert_close(model.backbone.layers[1].attn.qkv.weight,
                               expected['layers.1.attn.qkv.weight'])


LINEAR_CFG = os.path.join(ROOT, 'tests', 'data', 'linear_vit-tiny_test.py')


@pytest.mark.slow
@pytest.mark.parametrize('config', [FT_CFG, LINEAR_CFG],
                         ids=['finetune', 'linear_probe'])
@pytest.mark.fashion_mnist
def test_convert_then_train_and_evaluate(tmp_path, config):
    data = export_image_folder(str(tmp_path / 'data'), 'train', 2, 32)
    export_image_folder(data, 'test', 3, 32)
    raw, _ = layouts(random_vit())['tec_raw']
    torch.save(raw, tmp_path / 'tec_raw.pth')
    converted = tmp_path / 'tec_vit_mmpretrain.pth'
    conv = subprocess.run(
        [sys.executable, 'tools/model_converters/tec2vit.py',
         str(tmp_path / 'tec_raw.pth'), str(converted)],
        cwd=ROOT, capture_output=True, text=True, timeout=TOOL_S)
    assert conv.returncode == 0, conv.stderr
    res = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={converted}',
         f'train_dataloader.dataset.data_root={data}',
         f'val_dataloader.dataset.data_root={data}',
         f'test_dataloader.dataset.data_root={data}'],
        cwd=ROOT, capture_output=True, text=True, timeout=TRAIN_S)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    # every backbone weight came from the converted TEC checkpoint
    assert 'loaded 40/40 expected keys' in log or \
        'loaded 42/42 expected keys' in log, log[-3000:]
    val = [line for line in log.splitlines()
           if 'Epoch(val)' in line and 'accuracy/top1' in line][-1]
    logged = [float(val.split(f'accuracy/top{k}:')[1].split()[0])
              for k in (1, 5)]
    # the runner's top-1/top-5 equal the trained weights' computed here
    # without MMPretrain's dataset, pipeline, val loop or metric
    direct = topk_computed_directly(
        config, str(tmp_path / 'work' / 'epoch_1.pth'), data)
    print(f'\n[cls e2e] top-1, top-5 from the runner {logged}, computed '
          f'directly {direct}')
    assert logged == pytest.approx(direct, abs=1e-3)


def topk_computed_directly(config, checkpoint, data_root):
    """Top-1 and top-5 (%) on ``data_root/test/<class>/*``: cv2 decode, PIL
    bicubic short-edge resize to 36, centre 32 crop, RGB mean/std."""
    import cv2
    import numpy as np
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from PIL import Image

    from mmtec.checkpoint import safe_load
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_load(checkpoint)['state_dict'])
    model.eval()
    mean = torch.tensor(cfg.data_preprocessor.mean).view(3, 1, 1)
    std = torch.tensor(cfg.data_preprocessor.std).view(3, 1, 1)
    test = os.path.join(data_root, 'test')
    correct, total = [0, 0], 0
    for label, name in enumerate(sorted(os.listdir(test))):
        for file in sorted(os.listdir(os.path.join(test, name))):
            rgb = cv2.imread(os.path.join(test, name, file))[..., ::-1]
            h, w = rgb.shape[:2]
            scale = 36 / min(h, w)
            size = (int(w * scale + 0.5), int(h * scale + 0.5))
            img = np.asarray(Image.fromarray(np.ascontiguousarray(rgb))
                             .resize(size, Image.BICUBIC))
            y0, x0 = round((size[1] - 32) / 2), round((size[0] - 32) / 2)
            img = img[y0:y0 + 32, x0:x0 + 32]
            x = (torch.from_numpy(img.copy()).permute(2, 0, 1).float() -
                 mean) / std
            with torch.no_grad():
                logits = model(x[None], mode='tensor')
            rank = int((logits[0] > logits[0, label]).sum())
            correct[0] += rank < 1
            correct[1] += rank < 5
            total += 1
    assert total == 30
    return [100.0 * c / total for c in correct]


def test_model_zoo_lists_and_loads_the_released_models(tmp_path):
    import mmpretrain
    names = mmpretrain.list_models('*tec*')
    assert len(names) == 6 and 'tec_vit-base-p16_mae-1600e-base_800e_in1k' in \
        names
    # a released-layout file (bare timm dict, class token merged, no final
    # norm) of a small ViT; the zoo config is built with that arch
    from mmpretrain.models.backbones import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch='deit-tiny', final_norm=False)
    from mmtec.converters import canonical_to_timm
    torch.save(canonical_to_timm(vit.state_dict()), tmp_path / 'rel.pth')
    model = mmpretrain.get_model(
        'tec_vit-base-p16_mae-1600e-base_800e_in1k',
        pretrained=str(tmp_path / 'rel.pth'),
        backbone=dict(arch='deit-tiny'),
        head=dict(in_channels=192))
    assert type(model).__name__ == 'TECImageClassifier'
    torch.testing.assert_close(model.backbone.layers[5].attn.qkv.weight,
                               vit.layers[5].attn.qkv.weight)
    torch.testing.assert_close(model.backbone.cls_token, vit.cls_token)
