"""Every place mmtec reads a checkpoint goes through the one loader: a
crafted file is refused everywhere, safetensors files are read everywhere.
"""
import os
import subprocess
import sys

import pytest
import torch

import mmtec  # noqa: F401  (registers the loader with MMEngine)
from hostile_pickles import exec_via_getattr, marker_code, splice
from mmtec.registry import MODELS
from paths import ROOT, TINY_CFG
from timeouts import TOOL_S
from vit_checkpoints import IMG, PATCH, TINY_ARCH, layouts, random_vit

CONVERTER = os.path.join(ROOT, 'tools', 'model_converters', 'tec2vit.py')


def _cls_backbone(ckpt):
    return MODELS.build(
        dict(type='PretrainedVisionTransformer', arch=TINY_ARCH,
             img_size=IMG, patch_size=PATCH, out_type='avg_featmap',
             final_norm=False,
             init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                           prefix='backbone.')))


def _det_backbone(ckpt):
    pytest.importorskip('mmdet')
    from mmtec.det import ViTDetBackbone
    return ViTDetBackbone(
        img_size=IMG, patch_size=PATCH, embed_dims=TINY_ARCH['embed_dims'],
        num_layers=TINY_ARCH['num_layers'],
        num_heads=TINY_ARCH['num_heads'],
        feedforward_channels=TINY_ARCH['feedforward_channels'],
        window_size=4, global_attn_indexes=(1, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))


def _seg_backbone(ckpt):
    pytest.importorskip('mmseg')
    from mmtec.seg import CheckedMAE
    return CheckedMAE(
        img_size=IMG, patch_size=PATCH, embed_dims=TINY_ARCH['embed_dims'],
        num_layers=TINY_ARCH['num_layers'],
        num_heads=TINY_ARCH['num_heads'],
        mlp_ratio=TINY_ARCH['feedforward_channels'] //
        TINY_ARCH['embed_dims'], norm_cfg=dict(type='LN', eps=1e-6),
        init_values=0.1, out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))


def _base_model(ckpt):
    from mmtec.models.target_generators import TECTargetGenerator
    return TECTargetGenerator(checkpoint=str(ckpt), arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH)


def _get_model(ckpt):
    import mmpretrain
    # the file is read before its weights are fitted to the model
    return mmpretrain.get_model(
        'tec_vit-base-p16_mae-1600e-base_800e_in1k', pretrained=str(ckpt),
        backbone=dict(arch='deit-tiny'), head=dict(in_channels=192))


def _load_from(ckpt):
    from mmengine.runner import load_checkpoint
    model = torch.nn.Linear(2, 2)
    load_checkpoint(model, str(ckpt))


def _frozen_vit(ckpt):  # kNN evaluation and attention maps
    from mmtec.evaluation import load_frozen_vit
    return load_frozen_vit(str(ckpt))


def _converter(ckpt):
    res = subprocess.run(
        [sys.executable, CONVERTER, str(ckpt),
         str(ckpt) + '.out.pth'], capture_output=True, text=True, cwd=ROOT,
        timeout=TOOL_S)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])


def _det_init(ckpt):
    _det_backbone(ckpt).init_weights()


def _seg_init(ckpt):
    _seg_backbone(ckpt).init_weights()


def _cls_init(ckpt):
    _cls_backbone(ckpt).init_weights()


ENTRY_POINTS = {
    'base model': _base_model,
    'get_model(pretrained=...)': _get_model,
    'load_from / resume': _load_from,
    'classification init': _cls_init,
    'detection init': _det_init,
    'segmentation init': _seg_init,
    'kNN / attention maps': _frozen_vit,
    'converter CLI': _converter,
}


@pytest.fixture(scope='module')
def mae_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('mae') / 'mae.pth'
    torch.save(layouts(random_vit())['mae'][0], path)
    return path


@pytest.mark.parametrize('entry', sorted(ENTRY_POINTS))
def test_crafted_base_model_runs_no_code_anywhere(tmp_path, mae_file,
                                                  entry):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    splice(mae_file, evil, 'extra',
           exec_via_getattr(marker_code(str(marker))))
    with pytest.raises(RuntimeError) as err:
        ENTRY_POINTS[entry](evil)
    assert not marker.exists(), f'{entry} ran code from the file'
    assert 'malicious' in str(err.value) and 'evil.pth' in str(err.value)


@pytest.mark.parametrize('layout', ['mmpretrain', 'timm', 'mmdet', 'mmseg'])
def test_converter_writes_safetensors_every_consumer_reads(tmp_path,
                                                           layout):
    from safetensors import safe_open

    from mmtec.checkpoint import safe_load
    vit = random_vit()
    raw, expected = layouts(vit)['tec_raw']
    torch.save(raw, tmp_path / 'tec_raw.pth')
    out = tmp_path / f'vit_{layout}.safetensors'
    res = subprocess.run([
        sys.executable, CONVERTER, str(tmp_path / 'tec_raw.pth'), str(out),
        '--layout', layout, '--format', 'safetensors'
    ], capture_output=True, text=True, cwd=ROOT, timeout=TOOL_S)
    assert res.returncode == 0, res.stderr
    with safe_open(str(out), framework='pt') as f:  # really safetensors
        assert len(list(f.keys())) > 0
    loaded = safe_load(str(out))
    if layout == 'timm':
        assert 'blocks.0.mlp.fc1.weight' in loaded
    else:
        assert loaded['meta']['arch']['embed_dims'] == 64 if layout in (
            'mmdet', 'mmseg') else loaded['meta']['target_layout'] == layout
    if layout in ('mmpretrain', 'timm'):
        model = _cls_backbone(out)
        model.init_weights()
        for key, value in model.state_dict().items():
            if not key.startswith('ln2.'):
                torch.testing.assert_close(value, expected[key], msg=key)
        base = _base_model(out)  # a safetensors base model
        torch.testing.assert_close(base.vit.cls_token, expected['cls_token'])
    elif layout == 'mmdet':
        model = _det_backbone(out)
        model.init_weights()
        torch.testing.assert_close(model.layers[1].attn.qkv.weight,
                                   expected['layers.1.attn.qkv.weight'])
    else:
        model = _seg_backbone(out)
        model.init_weights()
        torch.testing.assert_close(model.layers[1].attn.qkv.weight,
                                   expected['layers.1.attn.qkv.weight'])
        assert torch.all(model.layers[1].gamma_1 == 1)


def test_format_follows_the_extension_unless_given(tmp_path):
    raw, _ = layouts(random_vit())['mae']
    torch.save(raw, tmp_path / 'mae.pth')
    for dst, extra, magic in (('a.safetensors', [], None),
                              ('b.pth', [], b'PK'),
                              ('c.bin', ['--format', 'safetensors'], None)):
        res = subprocess.run([
            sys.executable, CONVERTER, str(tmp_path / 'mae.pth'),
            str(tmp_path / dst), *extra
        ], capture_output=True, text=True, cwd=ROOT, timeout=TOOL_S)
        assert res.returncode == 0, res.stderr
        head = (tmp_path / dst).read_bytes()[:10]
        if magic:
            assert head.startswith(magic)
        else:  # safetensors: 8-byte header length, then JSON
            assert head[8:9] == b'{'


def test_key_table_round_trips():
    from mmtec.converters import mmpretrain_to_timm, timm_to_mmpretrain
    canonical = {
        k: torch.zeros(1)
        for k in ('cls_token', 'pos_embed', 'patch_embed.projection.weight',
                  'layers.0.ln1.weight', 'layers.0.attn.qkv.weight',
                  'layers.0.attn.gamma1.weight', 'layers.11.ffn.gamma2.weight',
                  'layers.3.ffn.layers.0.0.bias', 'layers.3.ffn.layers.1.bias',
                  'layers.3.ln2.bias', 'ln1.weight')
    }
    timm = mmpretrain_to_timm(canonical)
    assert set(timm) == {
        'cls_token', 'pos_embed', 'patch_embed.proj.weight',
        'blocks.0.norm1.weight', 'blocks.0.attn.qkv.weight',
        'blocks.0.ls1.gamma', 'blocks.11.ls2.gamma', 'blocks.3.mlp.fc1.bias',
        'blocks.3.mlp.fc2.bias', 'blocks.3.norm2.bias', 'norm.weight'
    }
    assert list(timm_to_mmpretrain(timm)) == list(canonical)


class _PickledObject:
    """A harmless object that pickles through a REDUCE of ``dict``."""

    def __reduce__(self):
        return (dict, ((('made_by', 'reduce'), ), ))


@pytest.fixture
def objects_file(tmp_path, monkeypatch):
    from mmtec.checkpoint import trust
    monkeypatch.delenv(trust.ENV_VAR, raising=False)
    monkeypatch.setattr(trust, '_trusted', set())
    ckpt, expected = layouts(random_vit())['mae']
    ckpt['extra'] = _PickledObject()
    path = tmp_path / 'with_objects.pth'
    torch.save(ckpt, path)
    return path, expected


def test_config_field_trusts_a_refused_file(objects_file):
    from mmtec.checkpoint import UnsafeCheckpointError
    from mmtec.models.target_generators import TECTargetGenerator
    path, expected = objects_file
    with pytest.raises(UnsafeCheckpointError, match='trust=True'):
        _base_model(path)
    base = TECTargetGenerator(checkpoint=str(path), arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH,
                              trust_checkpoint=True)
    torch.testing.assert_close(base.vit.cls_token, expected['cls_token'])
    with pytest.raises(UnsafeCheckpointError):
        _cls_init(path)
    model = MODELS.build(
        dict(type='PretrainedVisionTransformer', arch=TINY_ARCH,
             img_size=IMG, patch_size=PATCH, out_type='avg_featmap',
             final_norm=False,
             init_cfg=dict(type='Pretrained', checkpoint=str(path),
                           trust=True)))
    model.init_weights()
    torch.testing.assert_close(model.layers[2].attn.qkv.weight,
                               expected['layers.2.attn.qkv.weight'])


def test_converter_flag_trusts_a_refused_file(objects_file, tmp_path):
    path, _ = objects_file
    cmd = [sys.executable, CONVERTER, str(path)]
    res = subprocess.run(cmd + [str(tmp_path / 'a.pth')],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=TOOL_S)
    assert res.returncode != 0 and '--trust-checkpoint' in res.stderr
    assert not (tmp_path / 'a.pth').exists()
    res = subprocess.run(cmd + [str(tmp_path / 'b.pth'), '--trust-checkpoint',
                                str(path)],
                         capture_output=True, text=True, cwd=ROOT,
                         timeout=TOOL_S)
    assert res.returncode == 0, res.stderr
    assert 'WITHOUT THE CHECKS' in res.stdout + res.stderr


@pytest.mark.parametrize('tool, argv', [
    ('tools/train.py', ['c.py']),
    ('tools/test.py', ['c.py', 'c.pth']),
    ('tools/model_converters/tec2vit.py', ['a.pth', 'b.pth']),
    ('tools/analysis_tools/knn_eval.py', ['a.pth']),
    ('tools/visualization/attention_maps.py', ['a.pth']),
])
def test_every_tool_takes_trusted_paths(tool, argv, monkeypatch):
    """``--trust-checkpoint PATH``, repeatable, means the same everywhere."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'tool_' + os.path.basename(tool)[:-3], os.path.join(ROOT, tool))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, 'argv', [tool, *argv, '--trust-checkpoint',
                                      'x.pth', '--trust-checkpoint', 'y.pth'])
    assert module.parse_args().trust_checkpoint == ['x.pth', 'y.pth']


def test_train_flag_trusts_a_refused_resume_file(objects_file, tmp_path,
                                                 monkeypatch):
    # objects_file: only for its clean trust state
    """``tools/train.py --trust-checkpoint`` reaches the resume search."""
    import importlib.util

    from mmengine.config import Config
    spec = importlib.util.spec_from_file_location(
        'train_tool', os.path.join(ROOT, 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    work = tmp_path / 'work'
    work.mkdir()
    # a training checkpoint that also holds a pickled object
    torch.save(
        dict(meta=dict(epoch=1, iter=5), state_dict=random_vit(),
             extra=_PickledObject()), work / 'epoch_1.pth')
    config = TINY_CFG

    def merged(*flags):
        monkeypatch.setattr(sys, 'argv', [
            'train.py', config, '--work-dir',
            str(work), '--resume', *flags
        ])
        return tool.merge_args(Config.fromfile(config), tool.parse_args())

    # refused: the only checkpoint does not load, so --resume stops
    with pytest.raises(RuntimeError, match='none of the checkpoints'):
        merged()
    cfg = merged('--trust-checkpoint', str(work / 'epoch_1.pth'))
    assert cfg.resume and cfg.load_from == str(work / 'epoch_1.pth')
