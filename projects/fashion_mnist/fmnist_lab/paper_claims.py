"""The paper's claims, each with the paper's number, ours and a verdict.

The sustainability study measures every arm the way the paper does (end-to-
end fine-tuning top-1) besides frozen-feature probes. This module turns the
per-seed records into the claims table (paired differences per seed), the
table of every arm and the figure of accuracy against cumulative training
compute (the paper's Figure 3 in miniature).

A per-seed record is ``dict(seed=..., arms={name: {metric: value}})`` with
the metrics ``ft_top1`` (fine-tuned on all labels), ``ft_low_top1`` (on the
low-label split), ``knn_top1`` and ``linear_top1``.
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from .markdown import markdown_table

METRICS = (('ft_top1', 'fine-tune, all labels'),
           ('ft_low_top1', 'fine-tune, 10% labels'),
           ('knn_top1', 'kNN'), ('linear_top1', 'linear probe'))
# the splits a verdict may read, in order: all labels (the paper's
# measure); else the low-label split, where pretraining matters more
VERDICT_SPLITS = (('ft_top1', 'all labels'), ('ft_low_top1', '10% labels'))

# ``a`` against ``b``: the paper's claim is a > b. ``ref`` is the
# pretrained arm whose fine-tuning must beat random initialisation for the
# comparison to be measurable. ``less_compute``: ``a`` must also cost less.
CLAIMS = [
    dict(claim='TEC on a saturated MAE base beats spending the same extra '
         'compute on more MAE', a='tec', b='mae_cont', ref='base',
         paper='not measured (the paper compares with the saturated base, '
         'next row)'),
    dict(claim='TEC on a saturated MAE base beats that base', a='tec',
         b='base', ref='base',
         paper='MAE 1600 ep 83.6 → + TEC 300 ep 84.7 (+1.1)'),
    dict(claim='Acceleration: a short MAE base + TEC beats the long MAE '
         'schedule with less total compute', a='short_tec', b='base',
         ref='base', less_compute=True,
         paper='MAE 300 ep + TEC 100 ep 83.9 vs MAE 1600 ep 83.6 (+0.3, '
         '400 instead of 1600 epochs)'),
    dict(claim='On a contrastive base, TEC beats spending the same extra '
         'compute on more of it', a='moco_tec', b='moco_cont', ref='moco',
         paper='not measured (next row: iBOT)'),
    dict(claim='TEC on a contrastive base beats that base', a='moco_tec',
         b='moco', ref='moco',
         paper='iBOT 1600 ep 84.0 → + TEC 300 ep 84.8 (+0.8)'),
    dict(claim='TEC does as well on the contrastive base as on the MAE base '
         '(no verdict: the paper reports them level)', a='moco_tec',
         b='tec', ref='moco', verdict=False,
         paper='TEC 300 ep: 84.8 on iBOT, 84.7 on MAE (+0.1)'),
]


def metric_of(record: dict, name: str, metric: str) -> Optional[float]:
    """One seed's ``metric`` of arm ``name`` (None when not measured)."""
    return record['arms'].get(name, {}).get(metric)


def paired_by_seed(results: List[dict], a: str, b: str,
                   metric: str) -> List[tuple]:
    """``(seed, a - b)`` for every seed that measured both."""
    out = []
    for r in results:
        x, y = metric_of(r, a, metric), metric_of(r, b, metric)
        if x is not None and y is not None:
            out.append((r['seed'], x - y))
    return out


# arms evaluated once, without training or randomness
DETERMINISTIC_ARMS = ('pixels',)


def _pm(values, sign=True):
    values = np.asarray(values, dtype=float)
    s = values.std(ddof=1) if len(values) > 1 else 0.
    return (f'{values.mean():+.2f} ± {s:.2f}' if sign else
            f'{values.mean():.2f} ± {s:.2f}')


def _diff_cell(pairs):
    if not pairs:
        return '–'
    return (_pm([d for _, d in pairs]) + ' (' +
            ', '.join(f'{d:+.2f}' for _, d in pairs) + ')')


def claim_verdict(claim: dict, results: List[dict],
                  pflops: Dict[str, float], labels: Dict[str, str]) -> str:
    """Holds / does not hold / not measurable at this scale, and why.

    Args:
        claim (dict): An entry of :data:`CLAIMS`.
        results (list[dict]): Per-seed records.
        pflops (dict): Cumulative training PFLOPs of every arm.
        labels (dict): Arm name -> label.

    Returns:
        str: The verdict with its reason. It reads fine-tuning on all
        labels, the paper's measure, when fine-tuning from ``claim['ref']``
        beats random initialisation there on every seed; else the 10%
        split under the same condition (named in the verdict); else the
        claim is not measurable at this scale.
    """
    a, b, ref = claim['a'], claim['b'], claim['ref']
    unseen = []
    for metric, split in VERDICT_SPLITS:
        pairs = paired_by_seed(results, a, b, metric)
        if not pairs:
            continue
        gain = paired_by_seed(results, ref, 'random', metric)
        # which split to read is decided on every seed the claim has
        missing = sorted({s for s, _ in pairs} - {s for s, _ in gain})
        if missing:
            return (f'not measured ({split} fine-tuning from the '
                    f'{labels[ref]} or from random initialisation missing '
                    f'for seed {", ".join(map(str, missing))})')
        if all(d > 0 for _, d in gain):
            break
        unseen.append(f'{split}: {_diff_cell(gain)}')
    else:
        if not unseen:
            return 'not measured (fine-tuning of ' + ' or '.join(
                labels[n] for n in (a, b)) + ' missing)'
        return (f'**not measurable at this scale**: fine-tuning from the '
                f'{labels[ref]} is not above fine-tuning from random '
                f'initialisation on every seed ({"; ".join(unseen)} '
                'points), so fine-tuning does not see the pretraining')
    if claim.get('verdict') is False:
        return 'no verdict (a level comparison in the paper)'
    diffs = [d for _, d in pairs]
    note = ' (1 seed: indicative only)' if len(diffs) == 1 else ''
    if unseen:
        note += (f' (read on the {split} split: with all labels, fine-'
                 'tuning does not see the pretraining)')
    if claim.get('less_compute') and not pflops[a] < pflops[b]:
        return (f'**not measurable at this scale**: {labels[a]} did not cost '
                f'less ({pflops[a]:.3g} vs {pflops[b]:.3g} PFLOPs)')
    if all(d > 0 for d in diffs):
        extra = (f', with {pflops[a] / pflops[b]:.0%} of the compute'
                 if claim.get('less_compute') else '')
        return f'**holds** on every seed{extra}{note}'
    if all(d < 0 for d in diffs):
        return f'**does not hold**: worse on every seed{note}'
    return ('**not measurable at this scale**: the sign changes across '
            'seeds (the difference is within seed-to-seed noise)')


def claims_table(results: List[dict], pflops: Dict[str, float],
                 labels: Dict[str, str]) -> str:
    """One row per claim whose arms were trained: paper, ours, verdict."""
    rows = []
    for claim in CLAIMS:
        a, b = claim['a'], claim['b']
        if not any(a in r['arms'] and b in r['arms'] for r in results):
            continue
        rows.append(
            [claim['claim'], claim['paper'], f'{labels[a]} − {labels[b]}'] +
            [_diff_cell(paired_by_seed(results, a, b, m))
             for m, _ in METRICS] +
            [f'{pflops[a]:.3g} vs {pflops[b]:.3g}',
             claim_verdict(claim, results, pflops, labels)])
    if not rows:
        return ''
    return markdown_table(
        ['claim', 'paper (ImageNet-1k fine-tune top-1)', 'ours: comparison'] +
        [f'{label} Δ (per seed)' for _, label in METRICS] +
        ['cumulative training PFLOPs',
         'verdict (fine-tune: all labels, else 10%)'],
        rows)


def arms_table(results: List[dict], names: List[str],
               labels: Dict[str, str], epochs: Dict[str, str],
               pflops: Dict[str, float]) -> str:
    """Every arm's accuracy on every metric, with its compute and time."""
    rows = []
    for name in names:
        rs = [r for r in results if name in r['arms']]
        if not rs:
            continue
        # raw pixels: one evaluation with no randomness, shared by the seeds
        fixed = name in DETERMINISTIC_ARMS
        rs = rs[:1] if fixed else rs
        cells = []
        for metric, _ in METRICS:
            vals = [metric_of(r, name, metric) for r in rs]
            vals = [v for v in vals if v is not None]
            cells.append('–' if not vals else f'{vals[0]:.2f}' if fixed
                         else _pm(vals, sign=False))
        train = [r.get('train_s', {}).get(name) for r in rs]
        ft = [r.get('ft_s', {}).get(name) for r in rs]
        train = [t for t in train if t is not None]
        ft = [t for t in ft if t is not None]
        rows.append([labels[name], epochs.get(name, '–'),
                     f'{pflops[name]:.3g}' if name in pflops else '–',
                     'none (deterministic)' if fixed else len(rs)] + cells +
                    [f'{np.median(train):.0f}' if train else '–',
                     f'{np.median(ft):.0f}' if ft else '–'])
    return markdown_table(
        ['arm', 'pretraining epochs', 'cumulative training PFLOPs', 'seeds']
        + [f'{label} top-1 (%)' for _, label in METRICS] +
        ['pretrain wall, median (s)', 'fine-tune wall (both splits), '
         'median (s)'], rows)


# lines from the arm a run starts from to the arm it ends in
_SEGMENTS = [('base', 'mae_cont'), ('base', 'tec'), ('tec', 'tec_gen2'),
             ('short_base', 'short_tec'), ('moco', 'moco_cont'),
             ('moco', 'moco_tec')]
_COLORS = dict(base='#7f7f7f', mae_cont='#ff7f0e', tec='#1f77b4',
               tec_gen2='#17becf', mae_scratch='#2ca02c',
               short_base='#bcbd22', short_tec='#9467bd', moco='#8c564b',
               moco_cont='#e377c2', moco_tec='#d62728')


def claims_plot(results: List[dict], labels: Dict[str, str],
                pflops: Dict[str, float], out: str,
                curves: Optional[Dict[str, tuple]] = None) -> None:
    """Accuracy (fine-tune and probes) against cumulative training PFLOPs.

    Args:
        results (list[dict]): Per-seed records.
        labels (dict): Arm name -> label.
        pflops (dict): Cumulative training PFLOPs of every arm.
        out (str): The PNG to write.
        curves (dict, optional): kNN learning curves, name -> ``(key of the
            per-seed epoch -> kNN dict, PFLOPs of one epoch)``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), dpi=100)
    for ax, (metric, mlabel) in zip(axes.flat, METRICS):
        for key, (name, epoch_pf) in (curves or {}).items():
            rs = [r for r in results if r.get(key)]
            if metric != 'knn_top1' or not rs:
                continue
            eps = sorted(rs[0][key], key=int)
            ys = np.array([[r[key][e] for e in eps] for r in rs])
            ax.plot([int(e) * epoch_pf for e in eps], ys.mean(0), '-',
                    color=_COLORS[name], lw=1, alpha=0.6,
                    label=f'{labels[name]} (learning curve)')
        means = {}
        for name in labels:
            vals = [metric_of(r, name, metric) for r in results]
            vals = np.array([v for v in vals if v is not None])
            if not len(vals):
                continue
            m = vals.mean()
            if name in ('random', 'pixels'):  # references: no compute
                ax.axhline(m, ls='--', color='k' if name == 'pixels' else
                           '#555555', lw=1, label=labels[name])
                continue
            means[name] = m
            ax.errorbar([pflops[name]], [m],
                        yerr=[[m - vals.min()], [vals.max() - m]],
                        fmt='o' if name in ('base', 'short_base', 'moco')
                        else 's', color=_COLORS[name], capsize=3,
                        label=labels[name])
        for start, end in _SEGMENTS:
            if start in means and end in means:
                ax.plot([pflops[start], pflops[end]],
                        [means[start], means[end]], '-',
                        color=_COLORS[end], lw=1)
        ax.set_xlabel('cumulative training compute (PFLOPs)')
        ax.set_ylabel(f'{mlabel} top-1 (%)')
        ax.grid(alpha=0.3)
    handles, names = [], []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.legend(handles, names, loc='lower center', ncol=4, fontsize=7)
    fig.suptitle(f'Fashion-MNIST, {len(results)} seed(s): accuracy against '
                 'training compute (bases included; fine-tuning, the same '
                 'for every arm, not counted)', fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
