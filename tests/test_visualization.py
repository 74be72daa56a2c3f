"""Attention-map and loss-curve pictures from tiny checkpoints and logs."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from paths import ROOT
from vit_checkpoints import TINY_ARCH, layouts, random_vit


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'mmtec_vis_{name}', osp.join(ROOT, 'tools', 'visualization',
                                      f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tiny_checkpoints(tmp_path_factory):
    """A 'base' (timm/MAE layout) and a 'TEC' (MMPretrain layout) ViT."""
    folder = tmp_path_factory.mktemp('ckpt')
    base, tec = folder / 'base.pth', folder / 'tec.pth'
    torch.save(layouts(random_vit(seed=0))['mae'][0], base)
    state = random_vit(seed=1).state_dict()
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in state.items()}}, tec)
    return str(base), str(tec)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('img')
    paths = []
    rng = np.random.default_rng(0)
    for i in range(3):
        path = folder / f'img{i}.png'
        Image.fromarray(rng.integers(0, 255, (40, 50, 3),
                                     dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_attention_maps_png_size(tmp_path, tiny_checkpoints, photos):
    tool = _tool('attention_maps')
    out = tmp_path / 'attn.png'
    heads = TINY_ARCH['num_heads']
    _, size = tool.main([*tiny_checkpoints, '--names', 'base', 'TEC',
                         '--num-heads', str(heads), '--images', *photos,
                         '--cell', '64', '--out', str(out)])
    cols = 1 + 2 * (1 + heads)  # image + per model: mean and every head
    expected = (cols * 64, 3 * 64 + 32)
    assert size == expected
    assert Image.open(out).size == expected
    # only the head average
    out2 = tmp_path / 'attn_mean.png'
    _, size = tool.main([*tiny_checkpoints, '--num-heads', str(heads),
                         '--images', *photos[:2], '--cell', '50',
                         '--max-heads', '0', '--out', str(out2)])
    assert Image.open(out2).size == size == (3 * 50, 2 * 50 + 25)


def test_cls_attention_is_a_distribution(tiny_checkpoints):
    from mmtec.evaluation import load_frozen_vit
    model = load_frozen_vit(tiny_checkpoints[0], num_heads=4)
    attn = model.cls_attention(torch.randn(2, 3, 32, 32))
    assert attn.shape == (2, 4, 4, 4)
    # patches' share of the class-token softmax (the class key is dropped)
    total = attn.flatten(2).sum(-1)
    assert torch.all(total > 0) and torch.all(total <= 1 + 1e-5)
    # the frozen ViT matches MMPretrain's forward on the same weights
    vit = random_vit(seed=0)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.tokens(x), vit(x)[0])


def test_plot_loss_curve(tmp_path):
    tool = _tool('plot_loss_curve')
    # two timestamp folders, as a resumed MMEngine run leaves them
    for ts, iters in (('20240101_000000', range(1, 6)),
                      ('20240101_010000', range(6, 11))):
        vis = tmp_path / 'work' / ts / 'vis_data'
        vis.mkdir(parents=True)
        with open(vis / 'scalars.json', 'w') as f:
            for i in iters:
                f.write(json.dumps(dict(loss=1 / i, loss_feature=0.5 / i,
                                        lr=1e-3, iter=i, epoch=1)) + '\n')
        # the duplicate <timestamp>.json must not double the curve
        (vis / f'{ts}.json').write_text((vis / 'scalars.json').read_text())
    series = tool.read_scalars(tool.json_files(str(tmp_path / 'work')))
    assert [s for s, _ in series['loss']] == list(range(1, 11))
    out = tmp_path / 'loss.png'
    tool.main([str(tmp_path / 'work'), '--out', str(out), '--logy'])
    assert Image.open(out).size == (700, 450)


def test_heads_come_from_the_table_of_standard_sizes(tiny_checkpoints,
                                                     monkeypatch):
    """The weights hold no head count: a standard size's comes from
    ``BASE_ARCHS`` (ViT-H: 16, not width / 64 = 20), others' from the
    64-wide-head rule."""
    from mmtec.evaluation import load_frozen_vit
    from mmtec.models.utils import BASE_ARCHS, vit_archs
    assert load_frozen_vit(tiny_checkpoints[0]).num_heads == 1  # 64 // 64
    # the tiny ViT (width 64, depth 3) as if it were a standard size
    monkeypatch.setitem(vit_archs.BASE_ARCHS, 'tiny', dict(
        embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128))
    assert load_frozen_vit(tiny_checkpoints[0]).num_heads == 4
    assert BASE_ARCHS['h']['num_heads'] == 16
