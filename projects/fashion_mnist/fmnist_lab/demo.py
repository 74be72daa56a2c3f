"""TEC on a laptop: one command, CPU, Fashion-MNIST from the local disk.

Run through ``tools/demo.py``.

Stages (each reused when it has finished before in ``--work-dir``):

1. ``mae``: MMPretrain's MAE (small ViT, patch 4 on 28x28) pretrained on a
   class-balanced subset of Fashion-MNIST train;
2. ``tec``: TEC (mmtec) on that MAE base, same data;
3. evaluation of the frozen backbones (and of raw pixels as a reference):
   weighted kNN (cosine, mmtec's default k and temperature) and a linear
   probe (L2-regularised logistic regression on standardised features),
   bank/training set from Fashion-MNIST train, queries from the test split;
4. a results table (markdown + json) and class-token attention maps of both
   models.

Example:
    python tools/demo.py                     # ~10 min on 2 CPU cores
    python tools/demo.py --scale tiny        # seconds, a smoke test
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch

from .data_arguments import add_data_arguments, fill_data_arguments

# per-class sizes (Fashion-MNIST has 10 classes) and epochs
SCALES = {
    'default':
    dict(train_per_class=500, bank_per_class=500, test_per_class=None,
         mae_epochs=6, tec_epochs=2),
    'tiny':
    dict(train_per_class=8, bank_per_class=8, test_per_class=4,
         mae_epochs=1, tec_epochs=1),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pretrain MAE, then TEC on it, on Fashion-MNIST (CPU), '
        'and compare their frozen features (kNN + linear probe).')
    parser.add_argument(
        '--work-dir',
        help='default: work_dirs/demo, work_dirs/demo_<scale> for another '
        '--scale (a finished stage is reused only with the same settings)')
    parser.add_argument('--scale', choices=list(SCALES), default='default')
    add_data_arguments(parser)
    parser.add_argument('--mae-epochs', type=int)
    parser.add_argument('--tec-epochs', type=int)
    parser.add_argument('--feature', default='mean',
                        choices=['cls', 'mean', 'cls+mean'],
                        help='frozen feature: class token, mean of the '
                        'patch tokens, or both')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: 1 when other '
                        'processes keep the cores busy, else all cores)')
    parser.add_argument('--device', default='cpu',
                        help='feature-extraction device (training uses '
                        'CUDA whenever it is visible)')
    parser.add_argument('--no-vis', action='store_true',
                        help='skip the attention-map picture')
    args = parser.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = 'work_dirs/demo' + (
            '' if args.scale == 'default' else f'_{args.scale}')
    fill_data_arguments(args, SCALES[args.scale])
    return args


def pick_threads(requested=None) -> int:
    """Torch threads for this machine.

    On a small shared machine two threads that wait for each other while a
    neighbour holds one core run several times *slower* than one thread
    (measured here: 4x), so use one thread whenever the load says the cores
    are busy.
    """
    if requested:
        return requested
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= 0.5 * cores
    except OSError:  # pragma: no cover - no load average on this OS
        busy = False
    return 1 if busy or cores == 1 else cores


def size_str(per_class):
    return 'all' if per_class is None else f'{per_class}/class'


def train_stages(args, work_dir):
    """The MAE base, then TEC on it (each reused when finished before)."""
    from . import pretrain_stage, project_config
    data = {
        'train_dataloader.dataset.data_root': args.data_root,
        'train_dataloader.dataset.num_per_class': args.train_per_class,
    }
    interval = 1 if args.scale == 'tiny' else 20
    mae = pretrain_stage('mae', project_config('mae_vit-t6-p4_fmnist.py'),
                         osp.join(work_dir, 'mae'), args.mae_epochs, data,
                         seed=args.seed, log_interval=interval)
    tec_opts = dict(data)
    tec_opts['model.target_generator.checkpoint'] = mae['checkpoint']
    tec = pretrain_stage('tec', project_config('tec_vit-t6-p4_fmnist.py'),
                         osp.join(work_dir, 'tec'), args.tec_epochs,
                         tec_opts, seed=args.seed, log_interval=interval)
    return mae, tec


def results_table(args, stages, results):
    """Markdown table and json records of the three rows."""
    from . import markdown_table
    mae = stages['mae']
    train_imgs = mae['num_images']
    total = args.mae_epochs + args.tec_epochs
    rows, records = [], []
    for name, model, epochs in (
            ('pixels', 'raw pixels (reference)', '-'),
            ('mae', 'MAE (MMPretrain)', f'{args.mae_epochs}'),
            ('tec', 'TEC on the MAE base',
             f'{args.tec_epochs} (+{args.mae_epochs} base = {total})')):
        res, stage = results[name], stages.get(name)
        wall = stage['wall_s'] if stage else None
        rows.append([
            model, epochs, train_imgs if stage else '-',
            f'{wall:.0f}' if stage else '-',
            f'{res["knn_top1"]:.2f}', f'{res["linear_top1"]:.2f}'
        ])
        records.append(dict(
            name=name, model=model, epochs=epochs if stage else 0,
            pretrain_images=train_imgs if stage else 0,
            pretrain_wall_s=wall,
            checkpoint=stage['checkpoint'] if stage else None,
            **{k: v for k, v in res.items() if k != 'reused'}))
    header = ['model', 'pretrain epochs', 'pretrain images',
              'pretrain wall (s)', 'kNN top-1 (%)', 'linear top-1 (%)']
    return markdown_table(header, rows), records


def attention_figure(args, work_dir, mae, tec):
    """Class-token attention maps of both models (drawn once)."""
    vis_path = osp.join(work_dir, 'attention_maps.png')
    if not osp.isfile(vis_path):
        # the repository's tool, three folders above this package
        sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)),
                                    *['..'] * 3, 'tools', 'visualization'))
        from attention_maps import main as attention_main
        attention_main([
            mae['checkpoint'], tec['checkpoint'], '--names', 'MAE', 'TEC',
            '--out', vis_path, '--num-images',
            '4' if args.scale == 'tiny' else '6'
        ])
    return vis_path


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    torch.set_num_threads(pick_threads(args.threads))
    os.environ.setdefault('OMP_NUM_THREADS', str(torch.get_num_threads()))

    import mmtec  # noqa: F401  (registers modules, safe loader)
    from mmtec.evaluation import KNN_K, KNN_TEMPERATURE

    from . import (
        device_name,
        evaluate_cached,
        fashion_mnist_eval_sets,
        write_json,
    )

    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    mae, tec = train_stages(args, work_dir)
    stages = dict(mae=mae, tec=tec)
    eval_sets = fashion_mnist_eval_sets(args.data_root, args.bank_per_class,
                                        args.test_per_class)
    results = {
        name: evaluate_cached(
            osp.join(work_dir, f'eval_{name}.json'),
            stages[name]['checkpoint'] if name in stages else None,
            eval_sets, args.feature, name, device=args.device)
        for name in ('pixels', 'mae', 'tec')
    }
    table, records = results_table(args, stages, results)
    vis_path = None if args.no_vis else attention_figure(
        args, work_dir, mae, tec)

    wall_total = time.time() - t_start
    # measured when each stage ran (reused stages keep their first timing)
    train_s = mae['wall_s'] + tec['wall_s']
    eval_s = sum(r['eval_s'] for r in results.values())
    bank_n, test_n = results['mae']['bank_size'], results['mae']['test_size']
    train_imgs = mae['num_images']
    notes = (
        f'Fashion-MNIST, 28x28; pretraining on {train_imgs} train images '
        f'({size_str(args.train_per_class)}); kNN (k={KNN_K}, cosine, '
        f'T={KNN_TEMPERATURE}, '
        f'weighted vote) and linear probe (L2 logistic regression, L-BFGS, '
        f'L2 picked on 10% of the bank) on frozen `{args.feature}` '
        f'features: bank/probe training set {bank_n} train images, '
        f'{test_n} test images. ViT width 192, depth 6, 3 heads, patch 4. '
        f'Machine: {device_name()}. Date: {time.strftime("%Y-%m-%d")}. '
        f'Measured: training {train_s:.0f} s + evaluation {eval_s:.0f} s; '
        f'this invocation {wall_total:.0f} s wall'
        + (' (finished stages reused).'
           if mae['reused'] or tec['reused'] else '.'))
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(f'# TEC demo results\n\n{table}\n\n{notes}\n')
    write_json(osp.join(work_dir, 'results.json'), dict(
        rows=records, scale=args.scale, seed=args.seed,
        feature=args.feature, bank_size=bank_n, test_size=test_n,
        train_images=train_imgs, wall_s=wall_total, train_s=train_s,
        eval_s=eval_s, device=device_name(),
        date=time.strftime('%Y-%m-%d'),
        reused=dict(mae=mae['reused'], tec=tec['reused']),
        attention_maps=vis_path))
    print('\n' + table + '\n\n' + notes, flush=True)
    print(f'\nWrote {osp.join(work_dir, "results.md")}, results.json'
          + (f' and {vis_path}' if vis_path else ''), flush=True)
    return records


if __name__ == '__main__':
    main()
