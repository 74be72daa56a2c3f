"""The Fashion-MNIST dataset and the one-command demo at a tiny scale."""
import gzip
import importlib.util
import json
import os
import os.path as osp
import struct

import numpy as np
import pytest

from fmnist_lab import LocalFashionMNIST
from mmtec.registry import DATASETS
from paths import ROOT


def _write_idx(path, array):
    header = struct.pack('>BBBB', 0, 0, 8, array.ndim) + b''.join(
        struct.pack('>I', d) for d in array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_source(tmp_path):
    """Four gzipped IDX files like Debian's, with few images."""
    src = tmp_path / 'src'
    src.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (('train', 40), ('t10k', 20)):
        _write_idx(src / f'{prefix}-images-idx3-ubyte.gz',
                   rng.integers(0, 256, (n, 28, 28)))
        _write_idx(src / f'{prefix}-labels-idx1-ubyte.gz', np.arange(n) % 10)
    return str(src)


def test_dataset_unpacks_and_loads(tmp_path, fake_source):
    root = tmp_path / 'data'
    ds = DATASETS.build(
        dict(type='LocalFashionMNIST', data_root=str(root), split='train',
             source=fake_source))
    assert sorted(os.listdir(root)) == sorted([
        't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte',
        'train-images-idx3-ubyte', 'train-labels-idx1-ubyte'
    ])
    assert len(ds) == 40
    info = ds.get_data_info(3)
    assert info['img'].shape == (28, 28, 3) and info['img'].dtype == np.uint8
    assert int(info['gt_label']) == 3
    # split alone picks the test files (MMPretrain's parent uses test_mode)
    test = LocalFashionMNIST(data_root=str(root), split='test',
                             source='/nonexistent', to_rgb=False)
    assert len(test) == 20 and test.get_data_info(0)['img'].shape == (28, 28)
    # a class-balanced subset
    sub = LocalFashionMNIST(data_root=str(root), num_per_class=2)
    labels = [int(sub.get_data_info(i)['gt_label']) for i in range(len(sub))]
    assert sorted(labels) == sorted(list(range(10)) * 2)
    # with a pipeline
    ds = LocalFashionMNIST(data_root=str(root),
                           pipeline=[dict(type='PackInputs')])
    assert tuple(ds[0]['inputs'].shape) == (3, 28, 28)


def test_dataset_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match='apt-get install '
                       'dataset-fashion-mnist'):
        LocalFashionMNIST(data_root=str(tmp_path / 'd'),
                          source=str(tmp_path / 'nothing'))


@pytest.mark.fashion_mnist
def test_dataset_reads_installed_fashion_mnist(tmp_path):
    ds = LocalFashionMNIST(data_root=str(tmp_path / 'fm'), split='test',
                           num_per_class=1)
    assert len(ds) == 10
    assert {int(ds.get_data_info(i)['gt_label']) for i in range(10)} == \
        set(range(10))


def _load_demo():
    spec = importlib.util.spec_from_file_location(
        'mmtec_demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_each_demo_scale_has_its_own_work_dir():
    """--scale tiny after the full demo must not meet the full demo's
    stages (other settings: refused) in work_dirs/demo."""
    from fmnist_lab.demo import parse_args
    assert parse_args([]).work_dir == 'work_dirs/demo'
    assert parse_args(['--scale', 'tiny']).work_dir == 'work_dirs/demo_tiny'
    assert parse_args(['--scale', 'tiny', '--work-dir', 'w']).work_dir == 'w'


@pytest.mark.fashion_mnist
def test_demo_tiny_end_to_end_and_rerun_reuses(tmp_path):
    demo = _load_demo()
    work = tmp_path / 'demo'
    argv = ['--scale', 'tiny', '--work-dir', str(work), '--data-root',
            str(tmp_path / 'data'), '--threads', '1']
    rows = demo.main(argv)
    assert [r['name'] for r in rows] == ['pixels', 'mae', 'tec']
    res = json.load(open(work / 'results.json'))
    for row in res['rows']:
        assert 0 <= row['knn_top1'] <= 100
        assert 0 <= row['linear_top1'] <= 100
        assert row['bank_size'] == 80 and row['test_size'] == 40
    assert res['train_images'] == 80
    assert res['reused'] == dict(mae=False, tec=False)
    md = open(work / 'results.md').read()
    assert '| TEC on the MAE base |' in md and 'kNN top-1' in md
    assert osp.isfile(work / 'mae' / 'epoch_1.pth')
    assert osp.isfile(work / 'tec' / 'epoch_1.pth')
    assert osp.isfile(work / 'attention_maps.png')
    # the TEC stage used the MAE checkpoint as its base
    tec_stage = json.load(open(work / 'tec' / 'stage.json'))
    assert str(work / 'mae' / 'epoch_1.pth') in json.dumps(
        tec_stage['settings'])

    mtime = os.path.getmtime(work / 'tec' / 'epoch_1.pth')
    log_dirs = sorted(os.listdir(work / 'mae'))
    rows2 = demo.main(argv)
    res2 = json.load(open(work / 'results.json'))
    assert res2['reused'] == dict(mae=True, tec=True)
    assert os.path.getmtime(work / 'tec' / 'epoch_1.pth') == mtime
    assert sorted(os.listdir(work / 'mae')) == log_dirs  # no new run
    assert [r['knn_top1'] for r in rows2] == [r['knn_top1'] for r in rows]

    # other settings in the same work dir are refused, not mixed
    with pytest.raises(RuntimeError, match='other settings'):
        demo.main(argv + ['--mae-epochs', '2'])
