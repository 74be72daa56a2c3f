"""A small-scale TEC study on Fashion-MNIST, over several seeds.

For every seed (all runs share the data, model sizes and schedule shape):

    ``random``    the ViT at initialisation (a reference: what the
                  architecture alone gives)
(a) ``mae``       MAE pretrained E epochs (the base model)
    ``tec``       TEC on that base for E' more epochs
    ``mae_long``  MAE pretrained E + E' epochs (same total epochs as ``tec``)
(b) ``tec_no_attn``      TEC without the attention target
    ``tec_channel_norm`` TEC with per-patch (channel) feature normalisation
                          instead of TEC's across-patch normalisation
    ``tec_no_adapters``  TEC without the input and encoder adapters
(c) ``tec_gen2``  TEC for E' epochs on ``tec`` as its base (second
                  generation, E + 2E' epochs in total)

Every model is evaluated on frozen features with the weighted kNN (cosine,
default k and temperature) and the linear probe of ``mmtec.evaluation``. The table
(mean +- std over seeds), the exact command, wall times and a plot are
written to ``--out-md``/``--out-png``. Finished runs and evaluations are
reused, so an interrupted study continues where it stopped.

Examples:
    # the CPU study of projects/fashion_mnist/docs/study.md (about 30 min
    # on 2 busy cores)
    nice -n 10 python projects/fashion_mnist/tools/study.py
    # larger on a GPU: all 60k images, longer schedules
    python projects/fashion_mnist/tools/study.py --device cuda \
        --train-per-class 0 --bank-per-class 0 --test-per-class 0 --base-epochs 40 \
        --tec-epochs 20 --batch-size 512 --work-dir work_dirs/study_gpu
"""
import argparse
import os
import os.path as osp
import shlex
import sys
import time

sys.path.append(osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..',
                             'tools'))
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import numpy as np
import torch

PROJECT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROOT = osp.dirname(osp.dirname(PROJECT))
sys.path.insert(0, PROJECT)  # fmnist_lab
MAE_CONFIG = 'mae_vit-t6-p4_fmnist.py'  # in projects/fashion_mnist/configs
TEC_CONFIG = 'tec_vit-t6-p4_fmnist.py'

# name: (description, config, base run or None, extra cfg options)
RUNS = {
    'random': ('untrained ViT (random init, reference)', MAE_CONFIG, None,
               {}),
    'mae': ('MAE, E epochs (base)', MAE_CONFIG, None, {}),
    'tec': ("TEC on `mae`, E' epochs", TEC_CONFIG, 'mae', {}),
    'mae_long': ("MAE, E+E' epochs", MAE_CONFIG, None, {}),
    'tec_no_attn': ('TEC without the attention target', TEC_CONFIG, 'mae',
                    {'model.use_attention_target': False}),
    'tec_channel_norm': ('TEC, per-patch (channel) feature norm',
                         TEC_CONFIG, 'mae',
                         {'model.head.loss_feature.norm_dim': 'channel'}),
    'tec_no_adapters': ('TEC without input/encoder adapters', TEC_CONFIG,
                        'mae', {'model.backbone.input_adapter': False,
                                'model.backbone.num_adapters': 0}),
    'tec_gen2': ("TEC on `tec` (2nd generation), E' epochs", TEC_CONFIG,
                 'tec', {}),
}


def parse_args(argv=None):
    from fmnist_lab import add_data_arguments, fill_data_arguments
    parser = argparse.ArgumentParser(
        description='Small-scale TEC study on Fashion-MNIST')
    parser.add_argument('--work-dir', default='work_dirs/study')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--base-epochs', type=int, default=4, help='E')
    parser.add_argument('--tec-epochs', type=int, default=2, help="E'")
    parser.add_argument('--runs', nargs='+', choices=list(RUNS),
                        default=list(RUNS))
    add_data_arguments(parser, per_class=200)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=None,
                        help='AdamW lr (default: the configs\' 1e-3)')
    parser.add_argument('--feature', default='mean',
                        choices=['cls', 'mean', 'cls+mean'])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'],
                        help='cuda: train (bf16 AMP) and extract on the GPU')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1 is fastest on a busy '
                        '2-core machine)')
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--out-md',
                        default='projects/fashion_mnist/docs/study.md')
    parser.add_argument('--out-png',
                        default='projects/fashion_mnist/docs/study.png')
    args = parser.parse_args(argv)
    fill_data_arguments(args)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but no CUDA device is visible')
    if args.device == 'cpu':
        # keep MMEngine's Runner off a GPU that happens to be there
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    return args


def random_init(config, run_dir, cfg_options, seed):
    """Save the model of ``config`` as initialised (no training)."""
    from mmengine.config import Config

    from mmtec.registry import MODELS
    ckpt = osp.abspath(osp.join(run_dir, 'random_init.pth'))
    if not osp.isfile(ckpt):
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(cfg_options)
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
        os.makedirs(run_dir, exist_ok=True)
        torch.save({'state_dict': model.state_dict()}, ckpt)
    return dict(checkpoint=ckpt, wall_s=0., num_images=0, epochs=0)


def mean_std(values):
    values = np.asarray(values, dtype=float)
    std = values.std(ddof=1) if len(values) > 1 else 0.
    return values.mean(), std


def plot(summary, names, out, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    colors = [
        '#cccccc' if n == 'random' else
        '#7f7f7f' if n.startswith('mae') else '#1f77b4' for n in names
    ]
    for ax, metric, label in zip(axes, ('knn_top1', 'linear_top1'),
                                 ('kNN top-1 (%)', 'linear-probe top-1 (%)')):
        means = [summary[n][metric][0] for n in names]
        stds = [summary[n][metric][1] for n in names]
        ax.bar(range(len(names)), means, yerr=stds, color=colors, capsize=4)
        for i, (m, s) in enumerate(zip(means, stds)):
            ax.text(i, m + s + 0.1, f'{m:.1f}', ha='center', fontsize=8)
        lo = min(m - s for m, s in zip(means, stds))
        hi = max(m + s for m, s in zip(means, stds))
        ax.set_ylim(lo - 0.25 * (hi - lo) - 0.5, hi + 0.2 * (hi - lo) + 0.5)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha='right', fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis='y', alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def run_order(requested):
    """The requested runs plus the base runs they need, in RUNS order."""
    runs = list(requested)
    for name in list(runs):
        base = RUNS[name][2]
        while base and base not in runs:
            runs.insert(0, base)
            base = RUNS[base][2]
    return [n for n in RUNS if n in runs]


def train_and_evaluate(args, runs, eval_sets):
    """Every run of every seed: train (or reuse), evaluate (or reuse)."""
    from fmnist_lab import (
        evaluate_cached,
        pretrain_stage,
        project_config,
        write_json,
    )
    E, E2 = args.base_epochs, args.tec_epochs
    epochs = dict(mae=E, mae_long=E + E2)
    common = {
        'train_dataloader.dataset.data_root': args.data_root,
        'train_dataloader.dataset.num_per_class': args.train_per_class,
        'train_dataloader.batch_size': args.batch_size,
        'train_dataloader.num_workers': args.num_workers,
        'train_dataloader.persistent_workers': args.num_workers > 0,
    }
    if args.lr:
        common['optim_wrapper.optimizer.lr'] = args.lr
    results = {n: [] for n in runs}
    for seed in args.seeds:
        stages = {}
        for name in runs:
            _, config, base, extra = RUNS[name]
            config = project_config(config)
            opts = dict(common, **extra)
            if base:
                opts['model.target_generator.checkpoint'] = \
                    stages[base]['checkpoint']
            run_dir = osp.join(args.work_dir, f'seed{seed}', name)
            if name == 'random':
                stage = random_init(config, run_dir, opts, seed)
            else:
                stage = pretrain_stage(
                    f'{name}_seed{seed}', config, run_dir,
                    epochs.get(name, E2), opts, seed=seed,
                    amp=args.device == 'cuda', log_interval=20)
            stages[name] = stage
            res = evaluate_cached(
                osp.join(args.work_dir, f'seed{seed}', f'eval_{name}.json'),
                stage['checkpoint'], eval_sets, args.feature,
                f'{name} seed {seed}', device=args.device, batch_size=512)
            results[name].append(dict(
                seed=seed, wall_s=stage['wall_s'], knn_top1=res['knn_top1'],
                linear_top1=res['linear_top1'], eval_s=res['eval_s'],
                num_images=stage['num_images']))
            # progress on disk: a study cut short keeps what it measured
            write_json(osp.join(args.work_dir, 'study_progress.json'),
                       results)
            print(f'[study] seed {seed} {name}: kNN {res["knn_top1"]:.2f} '
                  f'linear {res["linear_top1"]:.2f} (train '
                  f'{stage["wall_s"]:.0f} s)', flush=True)
    return results


def summary_table(args, runs, results):
    """Mean and std over seeds of every run, and its markdown table."""
    from fmnist_lab import markdown_table
    E, E2 = args.base_epochs, args.tec_epochs
    total = dict(random=0, mae=E, mae_long=E + E2, tec_gen2=E + 2 * E2)
    summary, rows = {}, []
    for name in runs:
        recs = results[name]
        summary[name] = dict(
            knn_top1=mean_std([r['knn_top1'] for r in recs]),
            linear_top1=mean_std([r['linear_top1'] for r in recs]),
            wall_s=mean_std([r['wall_s'] for r in recs]),
            runs=recs)
        s = summary[name]
        rows.append([
            f'`{name}`', RUNS[name][0],
            f'{total.get(name, E + E2)}' +
            ('' if name.startswith(('mae', 'random')) else
             f' ({E2} on the base)'),
            f'{s["knn_top1"][0]:.2f} ± {s["knn_top1"][1]:.2f}',
            f'{s["linear_top1"][0]:.2f} ± {s["linear_top1"][1]:.2f}',
            f'{np.median([r["wall_s"] for r in recs]):.0f}'
        ])
    header = ['run', 'what', 'total epochs', 'kNN top-1 (%)',
              'linear top-1 (%)', 'train wall, median of seeds (s)']
    return summary, markdown_table(header, rows)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    torch.set_num_threads(args.threads)
    import mmtec  # noqa: F401
    from fmnist_lab import (
        device_name,
        fashion_mnist_eval_sets,
        write_json,
        write_report,
    )
    from mmtec.evaluation import KNN_K, KNN_TEMPERATURE

    E, E2 = args.base_epochs, args.tec_epochs
    runs = run_order(args.runs)
    eval_sets = fashion_mnist_eval_sets(args.data_root, args.bank_per_class,
                                        args.test_per_class)
    results = train_and_evaluate(args, runs, eval_sets)
    summary, table = summary_table(args, runs, results)

    bank, query = eval_sets[:2]
    n_train = max(r[0]['num_images'] for r in results.values())
    wall = time.time() - t_start
    # measured compute, also when runs were reused from an earlier call
    train_total = sum(r['wall_s'] for v in results.values() for r in v)
    eval_total = sum(r['eval_s'] for v in results.values() for r in v)
    command = 'python ' + ' '.join(
        shlex.quote(a) for a in [osp.relpath(__file__, ROOT)] +
        (sys.argv[1:] if argv is None else list(argv)))
    title = (f'TEC study, Fashion-MNIST: {n_train} pretraining images, '
             f'E={E}, E\'={E2}, seeds {args.seeds} (mean ± std)')
    plot(summary, runs, args.out_png, title)
    setup = (
        f'- Data: Fashion-MNIST (Debian package), {n_train} pretraining '
        f'images, kNN bank / probe training set {len(bank)} train images, '
        f'{len(query)} test images; 28x28, gray repeated to 3 channels.\n'
        f'- Models: ViT width 192, depth 6, 3 heads, patch 4 (49 patches); '
        f'MAE = MMPretrain MAE (decoder 128-d x 2, norm-pix loss); TEC = '
        f'mmtec (decoder 128-d x 2, topk 5, tau 1.8, 2 encoder adapters).\n'
        f'- Schedule: AdamW lr {args.lr or 1e-3}, batch '
        f'{args.batch_size}, 1 warm-up epoch then cosine; each run starts '
        f'its schedule afresh.\n'
        f'- Evaluation: frozen `{args.feature}` features; weighted kNN '
        f'(k={KNN_K}, cosine, T={KNN_TEMPERATURE}); linear probe = L2 '
        f'logistic regression '
        f'(L-BFGS) on standardised features, L2 chosen on 10% of the '
        f'bank.\n'
        f'- Seeds {args.seeds}: mean ± sample std over seeds.\n'
        f'- Machine: {device_name()}. Measured time: training '
        f'{train_total:.0f} s + evaluation {eval_total:.0f} s over all runs '
        f'and seeds (this invocation: {wall:.0f} s wall, reused runs cost '
        f'nothing). Date: {time.strftime("%Y-%m-%d")}.\n'
        f'- Command: `{command}`\n')
    # notes below the marker survive the rewrite
    write_report(args.out_md, f'# {title}\n\n{table}\n\n'
                 f'![study]({osp.basename(args.out_png)})\n\n'
                 f'## Setup\n\n{setup}')
    write_json(osp.join(args.work_dir, 'study.json'), dict(
        summary=summary, args=vars(args), wall_s=wall, command=command,
        train_s=train_total, eval_s=eval_total, device=device_name()))
    print('\n' + table + '\n\n' + setup, flush=True)
    print(f'Wrote {args.out_md} and {args.out_png}')
    return summary


if __name__ == '__main__':
    main()
