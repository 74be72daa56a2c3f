"""Settings that cannot train are refused when the run is set up."""
import os
import subprocess
import sys

import pytest
from mmengine.config import Config

import mmtec  # noqa: F401
from mmtec.models import AttentionMapLoss, PatchNormFeatureLoss
from mmtec.registry import MODELS
from mmtec.run_config.adapt import fit_dataloaders_to_workers
from mmtec.run_config.checks import (
    check_learning_rates,
    check_training_length,
)
from paths import ROOT, TINY_CFG
from timeouts import TRAIN_S
from vit_checkpoints import IMG, PATCH, TINY_ARCH


def build_tec(tiny_base, mask_ratio=0.75, tau=1.8, weights=(1.0, 1.0)):
    return MODELS.build(dict(
        type='TEC',
        backbone=dict(type='ConditionalAdapterViT', arch=TINY_ARCH,
                      img_size=IMG, patch_size=PATCH, num_adapters=1,
                      adapter_hidden_dims=64, mask_ratio=mask_ratio),
        neck=dict(type='TECDecoder', num_patches=16, in_channels=64,
                  embed_dims=32, num_layers=1, num_heads=4),
        head=dict(type='PatchRelationTargetHead',
                  loss_feature=dict(type='PatchNormFeatureLoss',
                                    loss_weight=weights[0]),
                  loss_attention=dict(type='AttentionMapLoss', tau=tau,
                                      loss_weight=weights[1])),
        target_generator=dict(type='TECTargetGenerator',
                              checkpoint=tiny_base, arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH, topk=5)))


def test_mask_ratio_must_leave_visible_and_masked_patches(tiny_base):
    assert IMG == 32 and PATCH == 8  # 16 patches
    with pytest.raises(ValueError) as err:
        build_tec(tiny_base, mask_ratio=0.0)
    assert str(err.value) == (
        'backbone.mask_ratio=0.0 leaves 16 of the 16 patches (4x4) visible: '
        'TEC needs at least one visible and one masked patch. Choose 0 < '
        'mask_ratio <= 0.9375 for this image and patch size.')
    with pytest.raises(ValueError, match='mask_ratio=0.99 leaves 0 of the 16'):
        build_tec(tiny_base, mask_ratio=0.99)
    # the extremes that still work: 1 masked / 1 visible patch
    build_tec(tiny_base, mask_ratio=0.0625)
    build_tec(tiny_base, mask_ratio=0.9375)


@pytest.mark.parametrize('kwargs,match', [
    (dict(tau=float('nan')), 'tau must be a finite number > 0, got nan'),
    (dict(tau=float('inf')), 'tau must be a finite number > 0, got inf'),
    (dict(weights=(float('nan'), 1.0)),
     'PatchNormFeatureLoss: loss_weight must be a finite number > 0, got '
     'nan'),
    (dict(weights=(1.0, float('inf'))),
     'AttentionMapLoss: loss_weight must be a finite number > 0, got inf'),
    (dict(weights=(0.0, 1.0)),
     'PatchNormFeatureLoss: loss_weight must be a finite number > 0, got '
     '0.0'),
    (dict(weights=(1.0, -0.5)),
     r"AttentionMapLoss: loss_weight must be a finite number > 0, got -0.5. "
     r"To train without this loss, set the head's loss_attention=None."),
])
def test_non_finite_loss_settings(tiny_base, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_tec(tiny_base, **kwargs)


def test_losses_refuse_non_finite_settings_directly():
    with pytest.raises(ValueError):
        AttentionMapLoss(tau=float('nan'))
    with pytest.raises(ValueError):
        PatchNormFeatureLoss(loss_weight=float('-inf'))


def test_learning_rate_must_be_finite():
    cfg = Config.fromfile(TINY_CFG)
    check_learning_rates(cfg)  # the recipe's lr is fine
    for bad in (float('nan'), float('inf'), -1.0):
        cfg.optim_wrapper.optimizer.lr = bad
        with pytest.raises(ValueError,
                           match=rf'optim_wrapper.optimizer.lr={bad}: the '
                           'learning rate must be a finite number'):
            check_learning_rates(cfg)


@pytest.mark.parametrize('key,value', [
    ('max_epochs', 0), ('max_epochs', -3), ('max_iters', 0),
    ('max_epochs', 1.5), ('max_iters', True)])
def test_training_length_must_be_at_least_one(key, value):
    cfg = Config.fromfile(TINY_CFG)
    check_training_length(cfg)  # the recipe's 800 epochs
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', **{key: value})
    with pytest.raises(ValueError) as err:
        check_training_length(cfg)
    assert str(err.value) == (
        f'train_cfg.{key}={value!r}: training needs a whole number >= 1. '
        'Check the config and --cfg-options.')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    check_training_length(cfg)


def test_num_workers_zero_turns_off_worker_options():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs',
                                       'tec_vit-b_800e_in1k.py'))
    assert cfg.train_dataloader.persistent_workers
    cfg.merge_from_dict({'train_dataloader.num_workers': 0,
                         'train_dataloader.prefetch_factor': 2})
    fit_dataloaders_to_workers(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert 'prefetch_factor' not in cfg.train_dataloader
    cfg.train_dataloader.num_workers = 4
    cfg.train_dataloader.persistent_workers = True
    fit_dataloaders_to_workers(cfg)  # untouched with workers
    assert cfg.train_dataloader.persistent_workers is True


def train_cli(work, base, *extra, resume=False):
    from fmnist_lab import export_image_folder
    data = export_image_folder(str(work) + '_data', per_class=2, size=32)
    cmd = [sys.executable, 'tools/train.py', TINY_CFG, '--work-dir',
           str(work)] + (['--resume'] if resume else []) + [
        '--cfg-options', f'model.target_generator.checkpoint={base}',
        f'train_dataloader.dataset.data_root={data}',
        'train_cfg.max_epochs=1', *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=TRAIN_S)


@pytest.mark.fashion_mnist
def test_nan_lr_fails_before_training(tmp_path, tiny_base):
    res = train_cli(tmp_path / 'nan_lr', tiny_base,
                    'optim_wrapper.optimizer.lr=nan',
                    'auto_scale_lr.enable=False')
    assert res.returncode != 0
    assert 'ValueError: optim_wrapper.optimizer.lr=nan: the learning rate ' \
        'must be a finite number >= 0' in res.stderr
    assert 'Epoch(train)' not in res.stdout + res.stderr


def test_zero_epochs_fail_before_training(tmp_path, tiny_base):
    res = train_cli(tmp_path / 'zero', tiny_base, 'train_cfg.max_epochs=0')
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith(
        'ValueError: train_cfg.max_epochs=0: training needs a whole number '
        '>= 1. Check the config and --cfg-options. (traceback: ')
    assert 'Traceback' not in res.stderr


@pytest.mark.slow
@pytest.mark.fashion_mnist
def test_resume_with_nothing_to_resume_and_no_workers(tmp_path, tiny_base):
    """A requeued first run: --resume in an empty work dir, num_workers=0
    over a recipe that keeps its workers persistent."""
    work = tmp_path / 'fresh'
    res = train_cli(work, tiny_base, 'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=True',
                    resume=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert (f'WARNING - --resume: no checkpoint to resume from in the work '
            f'dir {work}; training starts from scratch.') in out
    assert 'Auto resumed from the latest checkpoint None' not in out
    assert os.path.isfile(work / 'epoch_1.pth')
