"""Training checkpoints as the field's own code writes them load at every
entry point without an opt-in: MAE's and TEC's ``save_model`` (with
``argparse`` args, AdamW and GradScaler state), DINO's and iBOT's full
checkpoints, timm's ``CheckpointSaver`` and an MMPretrain MAE trained by
MMPretrain's own runner."""
import subprocess
import sys

import pytest
import torch

import mmtec  # noqa: F401  (registers the loader with MMEngine)
from mmtec.checkpoint import safe_load
from mmtec.converters import read_vit
from test_loader_entry_points import (
    CONVERTER,
    ROOT,
    _base_model,
    _det_init,
    _frozen_vit,
    _load_from,
    _seg_init,
)
from vit_checkpoints import TINY_ARCH, layouts, random_vit

FIELD = ('tec_raw', 'mae_training', 'dino_training', 'ibot_training',
         'timm_training')


def _converter(ckpt):
    res = subprocess.run(
        [sys.executable, CONVERTER, str(ckpt), str(ckpt) + '.out.pth'],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return safe_load(str(ckpt) + '.out.pth')


ENTRY_POINTS = {
    'base model': _base_model,
    'load_from / resume': _load_from,
    'detection init': _det_init,
    'segmentation init': _seg_init,
    'kNN / attention maps': _frozen_vit,
    'converter CLI': _converter,
}


@pytest.fixture(scope='module')
def field_files(tmp_path_factory):
    """The field's files, built the way the producers save them: real
    Namespace args, optimizer state after a step, scaler state; stock
    weights-only torch refuses them."""
    folder = tmp_path_factory.mktemp('field')
    files = {}
    for name, (ckpt, expected) in layouts(random_vit()).items():
        if name in FIELD:
            files[name] = (folder / f'{name}.pth', expected)
            torch.save(ckpt, files[name][0])
    for name, (path, _) in files.items():
        full = torch.load(path, weights_only=False)
        assert type(full['args']).__name__ == 'Namespace', name
        assert full['optimizer']['state'][0]['exp_avg'].abs().sum() > 0
        scaler = full.get('scaler') or full.get('fp16_scaler') or \
            full['amp_scaler']
        assert scaler['scale'] > 0
        with pytest.raises(Exception, match='argparse.Namespace'):
            torch.load(path, weights_only=True)
    return files


@pytest.mark.parametrize('entry', sorted(ENTRY_POINTS))
@pytest.mark.parametrize('name', FIELD)
def test_field_training_checkpoint_loads_everywhere(field_files, name,
                                                    entry, monkeypatch):
    from mmtec.checkpoint import trust
    monkeypatch.delenv(trust.ENV_VAR, raising=False)
    monkeypatch.setattr(trust, '_trusted', set())
    path, _ = field_files[name]
    ENTRY_POINTS[entry](path)


@pytest.mark.parametrize('name', FIELD)
def test_field_weights_are_read_exactly(field_files, name):
    path, expected = field_files[name]
    state, info = read_vit(str(path))
    for key, value in state.items():
        torch.testing.assert_close(value, expected[key], msg=key)
    args = safe_load(str(path))['args']
    assert args.seed == 0 and isinstance(args.world_size, int)


@pytest.mark.slow
def test_mmpretrain_runner_checkpoint_is_a_base(tmp_path, image_folder):
    """MMPretrain's MAE trained one iteration by its own Runner: the file
    holds MMEngine's HistoryBuffers and numpy values; its weights are read
    and the rest is not rebuilt."""
    from mmengine.runner import Runner
    dims = TINY_ARCH['embed_dims']
    runner = Runner(
        model=dict(
            type='MAE',
            backbone=dict(type='MAEViT', arch=TINY_ARCH, img_size=32,
                          patch_size=8, mask_ratio=0.75),
            neck=dict(type='MAEPretrainDecoder', num_patches=16,
                      patch_size=8, in_chans=3, embed_dim=dims,
                      decoder_embed_dim=32, decoder_depth=1,
                      decoder_num_heads=4),
            head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
                      loss=dict(type='PixelReconstructionLoss',
                                criterion='L2')),
            data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                   mean=[127.5] * 3, std=[127.5] * 3)),
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='CustomDataset', data_root=image_folder,
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='RandomResizedCrop', scale=32),
                                   dict(type='PackInputs')])),
        train_cfg=dict(by_epoch=False, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-4)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1, by_epoch=False)),
        default_scope='mmpretrain', randomness=dict(seed=0))
    runner.train()
    path = tmp_path / 'work' / 'iter_1.pth'
    full = torch.load(path, weights_only=False)
    assert 'HistoryBuffer' in repr(type(next(iter(
        full['message_hub']['log_scalars'].values()))))
    generator = _base_model(path)
    backbone = runner.model.backbone.state_dict()
    torch.testing.assert_close(
        generator.vit.state_dict()['layers.0.attn.qkv.weight'],
        backbone['layers.0.attn.qkv.weight'])
    assert set(safe_load(str(path))) == set(full) - {'message_hub'}
