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
from fmnist_lab.markdown import NOTES_MARKER
from mmtec.registry import MODELS
from paths import ROOT


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
    # notes written by hand below the marker survive a regeneration
    md.write_text(text.replace('## Setup', '## Setup (edited)') + '\n' +
                  NOTES_MARKER + '\nWhat the numbers say, by hand.\n')
    study.main(argv + ['--report-only'])
    assert md.read_text() == (text + '\n' + NOTES_MARKER +
                              '\nWhat the numbers say, by hand.\n')
    md.write_text(text)
    # a run that did not finish is named, and left out of the numbers
    os.remove(work / 'seed1' / 'tec' / 'stage.json')
    study.main(argv + ['--report-only'])
    partial = md.read_text()
    assert 'Not finished' in partial and '(b) TEC seed 1' in partial
    assert _table_row(partial, '(b) TEC')[3] == '1'
    # past the time limit: finished stages are reused, the unfinished one
    # does not start; the report shows what has finished, exit code 75
    with pytest.raises(SystemExit) as stop:
        study.main(argv + ['--hours', '1', '--stop-at', '0'])
    assert stop.value.code == 75
    stopped = md.read_text()
    assert '(b) TEC seed 1' in stopped
    assert _table_row(stopped, '(b) TEC')[3] == '1'
    assert '--hours' not in stopped and '--stop-at' not in stopped
    parts = json.loads((work / 'wall.json').read_text())['parts']
    assert [p['stopped_at_time_limit'] for p in parts] == [False, True]
    assert 'in 2 invocations' in stopped


@MODELS.register_module(force=True)
class _TwoViewFlopToy(BaseModel):
    """A linear layer applied to every view of a MoCo-style batch."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.trained = torch.nn.Linear(3 * 28 * 28, 10, bias=False)

    def forward(self, inputs, data_samples=None, mode='loss'):
        assert isinstance(inputs, list), 'two views come as a list'
        return dict(loss=sum(self.trained(x.flatten(1)).sum()
                             for x in inputs))


def test_train_flops_count_every_view(tmp_path):
    cfg = tmp_path / 'toy2.py'
    cfg.write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='_TwoViewFlopToy', data_preprocessor=dict("
        "type='SelfSupDataPreprocessor', mean=[0., 0., 0.], "
        "std=[1., 1., 1.]))\n")
    # forward + weight gradient of the layer, once per view
    assert train_flops_per_image(str(cfg), batch_size=2, num_views=2) == \
        2 * (2 * 2352 * 10 * 2)


def test_claims_options_and_their_errors(capsys):
    args = study.parse_args(['--scale', 'full'])
    # the existing study's outputs and arms stay as they were
    assert args.out_md.endswith(os.path.join('docs', 'sustainability.md'))
    assert not (args.finetune or args.accel or args.contrastive or args.gen2)
    args = study.parse_args(['--scale', 'full', '--claims'])
    assert args.finetune and args.accel and args.contrastive and args.gen2
    # one report: the claims section joins it
    assert args.out_md.endswith(os.path.join('docs', 'sustainability.md'))
    assert args.out_png.endswith(os.path.join('docs', 'sustainability.png'))
    # E_s: a quarter of E (the paper's 300 of 1600 MAE epochs is ~1/5)
    assert args.short_base_epochs == 5 and args.moco_epochs == 20
    assert (args.ft_epochs, args.ft_low_epochs, args.ft_low_per_class) == \
        (10, 30, 600)
    with pytest.raises(SystemExit):
        study.parse_args(['--scale', 'full', '--accel',
                          '--short-base-epochs', '20'])
    assert 'must be below --base-epochs (20)' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        study.parse_args(['--scale', 'full', '--ft-epochs', '0'])
    assert '--ft-epochs must be >= 1' in capsys.readouterr().err


def test_claim_arms_compute_includes_their_bases():
    args = study.parse_args(['--scale', 'full', '--claims'])
    args._e_mc = 1
    flops = dict(mae=10e6, tec=21e6, moco=40e6)
    n = 60000
    pf = study.claim_pflops(args, flops, n)
    mae, tec, moco = (n * flops[k] / 1e15 for k in ('mae', 'tec', 'moco'))
    assert pf['short_base'] == pytest.approx(5 * mae)
    assert pf['short_tec'] == pytest.approx(5 * mae + 4 * tec)
    assert pf['moco'] == pytest.approx(20 * moco)
    assert pf['moco_cont'] == pytest.approx(21 * moco)
    assert pf['moco_tec'] == pytest.approx(20 * moco + 4 * tec)
    # E_mc: the MoCo epochs closest to the FLOPs of E' = 4 TEC epochs
    assert study.moco_extra_epochs(args, flops) == 2  # 84 / 40 -> 2


def _ft(seed, metric='ft_top1', **arms):
    return dict(seed=seed, arms={k: {metric: v} for k, v in arms.items()})


def _merge(*records):
    out = dict(seed=records[0]['seed'], arms={})
    for r in records:
        for name, metrics in r['arms'].items():
            out['arms'].setdefault(name, {}).update(metrics)
    return out


def test_claim_verdicts():
    from fmnist_lab.paper_claims import CLAIMS, claim_verdict
    labels = {k: k for k in ('tec', 'mae_cont', 'base', 'short_tec')}
    pflops = dict(tec=2., mae_cont=2., base=1., short_tec=0.5)
    vs_cont, accel = CLAIMS[0], CLAIMS[2]
    assert (vs_cont['a'], vs_cont['b'], accel['a'], accel['b']) == \
        ('tec', 'mae_cont', 'short_tec', 'base')
    better = [_ft(0, tec=80., mae_cont=79., base=78., random=70.),
              _ft(1, tec=81., mae_cont=80.5, base=79., random=71.)]
    assert claim_verdict(vs_cont, better, pflops, labels).startswith(
        '**holds** on every seed')
    worse = [_ft(0, tec=78., mae_cont=79., base=78., random=70.),
             _ft(1, tec=80., mae_cont=80.5, base=79., random=71.)]
    assert claim_verdict(vs_cont, worse, pflops, labels).startswith(
        '**does not hold**')
    # the reference run missing on a seed (a study in parts): no verdict
    # from the other seeds alone
    partial = [better[0], _ft(1, tec=81., mae_cont=80.5, base=79.)]
    assert claim_verdict(vs_cont, partial, pflops, labels) == (
        'not measured (all labels fine-tuning from the base or from random '
        'initialisation missing for seed 1)')
    mixed = [better[0], worse[1]]
    assert 'sign changes across seeds' in claim_verdict(
        vs_cont, mixed, pflops, labels)
    # pretraining that fine-tuning does not see: no verdict either way
    unseen = [_ft(0, tec=80., mae_cont=79., base=70., random=70.5)]
    text = claim_verdict(vs_cont, unseen, pflops, labels)
    assert text.startswith('**not measurable at this scale**')
    assert 'random initialisation' in text and 'all labels: -0.50' in text
    # ... unless the 10% split sees it: the verdict reads that split
    low = [_merge(unseen[0], _ft(0, 'ft_low_top1', tec=60., mae_cont=62.,
                                 base=61., random=55.))]
    text = claim_verdict(vs_cont, low, pflops, labels)
    assert text.startswith('**does not hold**'), text
    assert 'read on the 10% labels split' in text
    # neither split sees it
    low[0]['arms']['random']['ft_low_top1'] = 65.
    text = claim_verdict(vs_cont, low, pflops, labels)
    assert text.startswith('**not measurable at this scale**')
    assert 'all labels: -0.50' in text and '10% labels: -4.00' in text
    # acceleration: better *and* cheaper; one seed is flagged
    fast = [_ft(0, short_tec=79., base=78., random=70.)]
    text = claim_verdict(accel, fast, pflops, labels)
    assert text.startswith('**holds**') and '50% of the compute' in text
    assert '1 seed' in text
    assert 'did not cost less' in claim_verdict(
        accel, fast, dict(pflops, short_tec=1.5), labels)
    assert claim_verdict(accel, [_ft(0, base=78.)], pflops,
                         labels).startswith('not measured')


def test_arms_table_counts_seeds_and_gives_the_pixel_reference_once():
    from fmnist_lab.paper_claims import arms_table
    results = [dict(seed=s, arms=dict(tec=dict(knn_top1=80. + s),
                                      pixels=dict(knn_top1=81.75),
                                      random=dict(ft_top1=85. + 2 * s)))
               for s in (0, 1, 2)]
    labels = dict(tec='TEC', pixels='raw pixels', random='random init')
    md = arms_table(results, list(labels), labels, {}, dict(tec=1.))
    tec, pixels, random = (_table_row(md, label) for label in
                           labels.values())
    # seeds, ft all, ft 10%, kNN: mean ± sample std over the seeds
    assert tec[2] == '3' and tec[5] == '81.00 ± 1.00'
    assert random[2] == '3' and random[3] == '87.00 ± 2.00'
    # one evaluation without randomness: its value, no spread, no seeds
    assert pixels[2] == 'none (deterministic)' and pixels[5] == '81.75'
    assert pixels[3] == '–'


def _log_of(folder):
    return '\n'.join(open(osp.join(d, f)).read()
                     for d, _, fs in os.walk(folder) for f in fs
                     if f.endswith('.log'))


@pytest.mark.slow
@pytest.mark.fashion_mnist
def test_tiny_claims_fine_tune_every_arm_and_report_verdicts(tmp_path):
    work = tmp_path / 'work'
    md, png = tmp_path / 'claims.md', tmp_path / 'claims.png'
    # every claim stage; of the frozen-feature study's arms only TEC (a
    # shorter test)
    argv = ['--scale', 'tiny', '--seeds', '0', '--finetune', '--accel',
            '--contrastive', '--arms', 'tec', '--work-dir', str(work),
            '--out-md', str(md), '--out-png', str(png)]
    study.main(argv)
    text = md.read_text()
    record = json.loads((work / 'sustainability.json').read_text())
    arms = record['results'][0]['arms']
    trained = ['base', 'tec', 'short_base', 'short_tec', 'moco',
               'moco_cont', 'moco_tec']
    # every arm and the random-init reference fine-tuned on both splits,
    # the pretrained ones also probed; raw pixels probed only
    for name in trained + ['random']:
        assert set(arms[name]) >= {'ft_top1', 'ft_low_top1'}, name
    for name in trained + ['pixels']:
        assert set(arms[name]) >= {'knn_top1', 'linear_top1'}, name
    assert 'ft_top1' not in arms['pixels']
    # the table's cells are the records' numbers
    for name, label in (('tec', '(b) TEC'), ('moco_tec', 'TEC on MoCo v3'),
                        ('random', 'random init (reference)')):
        row = _table_row(text, label)
        assert row[3] == f"{arms[name]['ft_top1']:.2f} ± 0.00"
        assert row[4] == f"{arms[name]['ft_low_top1']:.2f} ± 0.00"
    row = _table_row(text, 'TEC on a saturated MAE base beats that base')
    diff = arms['tec']['ft_top1'] - arms['base']['ft_top1']
    assert row[2].startswith(f'{diff:+.2f} ± 0.00')
    assert re.match(r'\*\*(holds|does not hold|not measurable at this '
                    r'scale)\*\*', row[-1])
    assert 'Acceleration' in text and 'iBOT 1600 ep 84.0' in text
    assert osp.getsize(tmp_path / 'claims_claims.png') > 10000
    # each fine-tuning read its own pretraining weights, the whole ViT
    for name, source in (('base', 'base/epoch_2.pth'),
                         ('short_tec', 'short_tec/epoch_1.pth'),
                         ('moco_tec', 'moco_tec/epoch_1.pth'),
                         ('moco', 'moco/encoder.pth')):
        assert ('PretrainedVisionTransformer: loaded 40/40 expected keys '
                f'from {work}/seed0/{source}') in _log_of(
                    work / 'seed0' / 'ft' / name), name
    assert 'PretrainedVisionTransformer: loaded' not in _log_of(
        work / 'seed0' / 'ft' / 'random')
    # the low-label split: 1 image per class of the tiny scale
    assert re.search(r'Epoch\(train\) \[1\]\[1/1\]',
                     _log_of(work / 'seed0' / 'ft_low' / 'base'))
    # TEC's base models: the short MAE run and the MoCo v3 online encoder
    assert f'from {work}/seed0/short_base/epoch_1.pth' in _log_of(
        work / 'seed0' / 'short_tec')
    assert f'from {work}/seed0/moco/encoder.pth' in _log_of(
        work / 'seed0' / 'moco_tec')
    assert f'Load checkpoint from {work}/seed0/moco/epoch_2.pth' in \
        _log_of(work / 'seed0' / 'moco_cont')
    # regenerating from the records trains nothing and changes nothing
    os.remove(md)
    study.main(argv + ['--report-only'])
    assert md.read_text() == text
