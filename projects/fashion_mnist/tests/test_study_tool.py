"""The small-scale study tool (projects/fashion_mnist/tools/study.py): a
tiny run, its table from its records, reuse, and notes kept."""
import importlib.util
import json
import os.path as osp

import pytest
from mmengine.config import Config

from fmnist_lab.markdown import NOTES_MARKER
from paths import ROOT


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'study', osp.join(ROOT, 'projects', 'fashion_mnist', 'tools',
                          'study.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _load_tool()


@pytest.mark.fashion_mnist
def test_tiny_study_table_reuse_and_notes(tmp_path):
    work, md, png = tmp_path / 'work', tmp_path / 's.md', tmp_path / 's.png'
    argv = ['--seeds', '0', '--base-epochs', '1', '--tec-epochs', '1',
            '--runs', 'mae', 'tec', '--train-per-class', '2',
            '--bank-per-class', '2', '--test-per-class', '2',
            '--work-dir', str(work), '--out-md', str(md),
            '--out-png', str(png)]
    summary = study.main(argv)
    assert set(summary) == {'mae', 'tec'}
    assert osp.getsize(png) > 10000
    text = md.read_text()
    record = json.loads((work / 'study.json').read_text())['summary']
    for name in ('mae', 'tec'):
        knn = record[name]['knn_top1'][0]
        row = next(line for line in text.splitlines()
                   if line.startswith(f'| `{name}` |'))
        assert f'| {knn:.2f} ± 0.00 |' in row
    # TEC's base is the MAE checkpoint this run trained
    tec_config = Config.fromfile(
        str(work / 'seed0' / 'tec' / 'tec_vit-t6-p4_fmnist.py'))
    assert tec_config.model.target_generator.checkpoint == str(
        work / 'seed0' / 'mae' / 'epoch_1.pth')
    # a second call reuses both stages and keeps the hand-written notes
    md.write_text(text + '\n' + NOTES_MARKER + '\nby hand\n')
    trained = (work / 'seed0' / 'tec' / 'epoch_1.pth').stat().st_mtime_ns
    study.main(argv)
    assert (work / 'seed0' / 'tec' / 'epoch_1.pth').stat().st_mtime_ns == \
        trained
    assert md.read_text().endswith('\n' + NOTES_MARKER + '\nby hand\n')
