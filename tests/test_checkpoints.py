"""Safe checkpoint loading and the backbone converter."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.backbones import VisionTransformer

import mmtec  # noqa: F401  (registers the safe loader)
from mmtec.checkpoint import safe_load
from paths import ROOT
from timeouts import TOOL_S
from vit_checkpoints import (
    IMG,
    PATCH,
    TINY_ARCH,
    layouts,
    random_vit,
    timm_state,
)

CONVERTER = os.path.join(ROOT, 'tools', 'model_converters', 'tec2vit.py')


class Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


def test_mmengine_training_checkpoint_gives_its_weights(tmp_path):
    buf = HistoryBuffer()
    buf.update(1.5)
    ckpt = dict(
        meta=dict(epoch=1, seed=np.int64(3), lr=np.float64(0.1),
                  arr=np.arange(3)),
        message_hub=dict(log_scalars={'train/loss': buf}),
        state_dict={'w': torch.ones(2)})
    torch.save(ckpt, tmp_path / 'epoch_1.pth')
    loaded = CheckpointLoader.load_checkpoint(str(tmp_path / 'epoch_1.pth'))
    # MMEngine's objects of another run are not rebuilt; the weights are
    assert set(loaded) == {'state_dict'}
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


def test_pickled_code_is_refused(tmp_path):
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': Evil()},
               tmp_path / 'evil.pth')
    with pytest.raises(RuntimeError, match='os.system|posix.system'):
        safe_load(str(tmp_path / 'evil.pth'))
    with pytest.raises(RuntimeError, match='os.system|posix.system'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'evil.pth'))


def run_converter(*args):
    return subprocess.run([sys.executable, CONVERTER, *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT,
                          timeout=TOOL_S)


@pytest.mark.parametrize('layout', ['mmpretrain', 'timm'])
def test_converter_backbone_loads_into_mmpretrain_vit(tmp_path, layout):
    vit = random_vit()
    raw_ckpt, expected = layouts(vit)['tec_raw']
    torch.save(raw_ckpt, tmp_path / 'tec_raw.pth')
    out = tmp_path / f'vit_{layout}.pth'
    res = run_converter(tmp_path / 'tec_raw.pth', out, '--layout', layout)
    assert res.returncode == 0, res.stderr
    assert 'tec_raw layout' in res.stdout
    converted = torch.load(out, weights_only=True)
    if layout == 'timm':
        # timm names checked against the fixtures' hand-written table, not
        # sent back through the project's own mapping (where a swapped pair
        # would cancel out)
        want = timm_state(expected)
        assert set(converted) == set(want)
        for key, value in want.items():
            torch.testing.assert_close(converted[key], value, msg=key)
        return
    state = {k[len('backbone.'):]: v
             for k, v in converted['state_dict'].items()}
    plain = VisionTransformer(arch=TINY_ARCH, img_size=IMG,
                              patch_size=PATCH, final_norm=True)
    result = plain.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in expected.items():
        torch.testing.assert_close(plain.state_dict()[key], value, msg=key)


def test_converter_never_overwrites_without_asking(tmp_path):
    torch.save(layouts(random_vit())['mae'][0], tmp_path / 'mae.pth')
    (tmp_path / 'out.pth').write_bytes(b'precious')
    res = run_converter(tmp_path / 'mae.pth', tmp_path / 'out.pth')
    assert res.returncode != 0 and 'exists' in res.stderr
    assert (tmp_path / 'out.pth').read_bytes() == b'precious'
    res = run_converter(tmp_path / 'mae.pth', tmp_path / 'out.pth',
                        '--overwrite')
    assert res.returncode == 0, res.stderr
    res = run_converter(tmp_path / 'missing.pth', tmp_path / 'o2.pth')
    assert res.returncode != 0 and 'does not exist' in res.stderr
