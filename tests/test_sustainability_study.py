"""The sustainability study: compute accounting, report and a tiny run."""
import importlib.util
import json
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.model import BaseModel

from fmnist_lab import train_flops_per_image
from mmtec.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'sustainability_study',
        osp.join(ROOT, 'projects', 'fashion_mnist', 'tools',
                 'sustainability_study.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _load_tool()


@MODELS.register_module(force=True)
class _FlopToy(BaseModel):
    """A trained linear layer beside a frozen one (like TEC's base)."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.trained = torch.nn.Linear(3 * 28 * 28, 10, bias=False)
        self.frozen = torch.nn.Linear(3 * 28 * 28, 5, bias=False)
        self.frozen.requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = inputs.flatten(1)
        with torch.no_grad():
            target = self.frozen(x).sum()
        return dict(loss=(self.trained(x).sum() - target) ** 2)


def test_train_flops_count_forward_backward_and_frozen_forward(tmp_path):
    cfg = tmp_path / 'toy.py'
    cfg.write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='_FlopToy', data_preprocessor=dict("
        "type='SelfSupDataPreprocessor', mean=[0., 0., 0.], "
        "std=[1., 1., 1.]))\n")
    # trained layer: forward 2*2352*10, weight gradient 2*2352*10 (the
    # images need no gradient); frozen layer: forward only, 2*2352*5
    expected = 2 * 2352 * 10 * 2 + 2 * 2352 * 5
    assert train_flops_per_image(str(cfg), batch_size=4) == expected
    assert train_flops_per_image(str(cfg), batch_size=1) == expected


def test_study_configs_count_tec_above_mae():
    from fmnist_lab import project_config
    mae = train_flops_per_image(project_config(study.MAE_CONFIG),
                                batch_size=2)
    # an MAE step of the width-64 depth-3 ViT is ~11 MFLOPs per 28x28 image
    assert 9e6 < mae < 13e6


def test_saturation_window_and_matched_epochs():
    # the last quarter of E epochs starts at floor(3E/4), 1 epoch at least
    assert [study.saturation_start(e) for e in (1, 2, 4, 6, 8)] == \
        [1, 1, 3, 4, 6]
    args = study.parse_args(['--scale', 'full'])
    flops = dict(mae=10e6, tec=21e6)
    args.tec_epochs = 1
    assert study.mae_extra_epochs(args, flops) == 2  # 2.1 -> 2
    args.tec_epochs = 3
    assert study.mae_extra_epochs(args, flops) == 6  # 6.3 -> 6
    args.mae_extra_epochs = 5
    assert study.mae_extra_epochs(args, flops) == 5
    args = study.parse_args(['--scale', 'full', '--base-epochs', '6',
                             '--tec-epochs', '1'])
    pflops, epoch_pf = study.cumulative_pflops(args, flops, 2, 60000)
    assert epoch_pf == pytest.approx(60000 * 10e6 / 1e15)  # 0.0006
    assert pflops['base'] == pytest.approx(6 * 0.0006)
    assert pflops['mae_cont'] == pytest.approx(8 * 0.0006)
    assert pflops['mae_scratch'] == pflops['mae_cont']
    assert pflops['tec'] == pytest.approx(6 * 0.0006 + 60000 * 21e6 / 1e15)
    assert pflops['tec_gen2'] == pytest.approx(
        6 * 0.0006 + 2 * 60000 * 21e6 / 1e15)
    assert study.curve_epochs(args) == [1, 2, 3, 4, 5, 6]
    args.curve_every = 4
    assert study.curve_epochs(args) == [4, 6]


def _result(seed, **knn):
    return dict(seed=seed, arms={
        k: dict(knn_top1=v, linear_top1=v / 2) for k, v in knn.items()})


def test_verdict_states_the_sign_per_seed():
    results = [_result(0, tec=70., mae_cont=68., mae_scratch=71.),
               _result(1, tec=72., mae_cont=69., mae_scratch=70.)]
    text = study.verdict(results)
    line = [ln for ln in text.splitlines()
            if ln.startswith('- kNN, TEC vs more MAE')][0]
    assert '**TEC is better** on every seed' in line
    assert '+2.50 ± 0.71' in line and '+2.00 (seed 0)' in line
    line = [ln for ln in text.splitlines()
            if ln.startswith('- kNN, TEC vs MAE trained from scratch')][0]
    assert 'no consistent difference' in line  # -1 and +2
    assert study.paired(results, 'tec', 'mae_cont', 'linear_top1') == \
        [1.0, 1.5]
    # an arm missing for a seed leaves that seed out of its comparisons
    del results[1]['arms']['mae_cont']
    assert study.paired(results, 'tec', 'mae_cont', 'knn_top1') == [2.0]


def _table_row(md, label):
    return [c.strip() for c in re.search(
        rf'^\| {re.escape(label)} \|(.*)\|$', md, re.M).group(1).split('|')]


@pytest.mark.slow
@pytest.mark.fashion_mnist
def test_tiny_study_end_to_end_and_report_only(tmp_path):
    work = tmp_path / 'work'
    md, png = tmp_path / 'sus.md', tmp_path / 'sus.png'
    argv = ['--scale', 'tiny', '--work-dir', str(work), '--out-md', str(md),
            '--out-png', str(png)]
    summary = study.main(argv)
    assert set(summary) == {'base', 'mae_cont', 'tec', 'mae_scratch'}
    assert osp.getsize(png) > 10000
    text = md.read_text()
    record = json.loads((work / 'sustainability.json').read_text())
    # every number of the table comes from the records of the run
    for name, label in (('tec', '(b) TEC'), ('mae_cont', '(a) MAE continued')):
        knn = [r['arms'][name]['knn_top1'] for r in record['results']]
        m, s = study.mean_std(knn)
        row = _table_row(text, label)
        # cells after the label: what, epochs, PFLOPs, seeds, kNN, ...
        assert row[4] == f'{m:.2f} ± {s:.2f}'
        assert row[3] == '2'  # seeds
    e_m = record['mae_extra_epochs']
    assert e_m == round(record['flops']['tec'] / record['flops']['mae'])
    assert _table_row(text, '(d) MAE from scratch')[1] == f'{2 + e_m}'
    # the arms start from the base: continued MAE loaded its checkpoint
    log = open(next(
        osp.join(d, f) for d, _, fs in os.walk(work / 'seed0' / 'mae_cont')
        for f in fs if f.endswith('.log'))).read()
    assert f'Load checkpoint from {work}/seed0/base/epoch_2.pth' in log
    assert 'epoch 1 → 2' in text and 'saturated' in text
    # regenerating from the records trains nothing and changes nothing
    os.remove(md)
    study.main(argv + ['--report-only'])
    assert md.read_text() == text
    # a run that did not finish is named, and left out of the numbers
    os.remove(work / 'seed1' / 'tec' / 'stage.json')
    study.main(argv + ['--report-only'])
    partial = md.read_text()
    assert 'Not finished' in partial and '(b) TEC seed 1' in partial
    assert _table_row(partial, '(b) TEC')[3] == '1'
