"""Measure how exactly ``--resume`` continues a run.

Trains ``2N`` epochs straight and ``N`` epochs, then ``--resume`` to ``2N``,
in fresh work dirs with ``tools/train.py`` (or ``tools/dist_train.sh``), and
prints the largest absolute difference between the two final weights, next
to how far the second half moved them. With ``--iter-interval K`` the
straight run saves a checkpoint every K iterations and the second run
resumes from the first of them instead (the middle of an epoch when K is
not a multiple of the epoch's iterations).

Example (the tiny test config, 2 accumulation steps, constant lr 0.05,
2 persistent loader workers):
    python tools/analysis_tools/resume_check.py \\
        tests/data/tec_vit-tiny_test.py --work-dir work_dirs/resume_check \\
        --workers 2 --cfg-options \\
        model.target_generator.checkpoint=base.pth \\
        train_dataloader.dataset.data_root=my_image_folder \\
        auto_scale_lr.enable=False optim_wrapper.optimizer.lr=0.05 \\
        param_scheduler.0.warmup_epochs=0 param_scheduler.0.eta_min=0.05
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True,
                        help='parent of the two runs; must not exist or be '
                        'empty')
    parser.add_argument('--epochs', type=int, default=1,
                        help='N: epochs before the resume')
    parser.add_argument('--gpus', type=int, default=0,
                        help='processes for tools/dist_train.sh (0: one '
                        'process with tools/train.py)')
    parser.add_argument('--workers', type=int, default=None,
                        help='train_dataloader.num_workers, with '
                        'persistent_workers when > 0 (default: the '
                        'config\'s)')
    parser.add_argument('--iter-interval', type=int, default=None,
                        help='save by iteration every K iterations and '
                        'resume from the first such checkpoint')
    parser.add_argument('--timeout', type=float, default=3600,
                        help='seconds each training run may take')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    return parser.parse_args(argv)


def train(args, work_dir: str, epochs: int, resume=None) -> None:
    opts = [*args.cfg_options, f'train_cfg.max_epochs={epochs}']
    if args.workers is not None:
        opts += [f'train_dataloader.num_workers={args.workers}',
                 f'train_dataloader.persistent_workers={args.workers > 0}']
    if args.iter_interval:
        opts += ['default_hooks.checkpoint.by_epoch=False',
                 f'default_hooks.checkpoint.interval={args.iter_interval}',
                 'default_hooks.checkpoint.max_keep_ckpts=-1']
    if args.gpus:
        cmd = ['bash', 'tools/dist_train.sh', args.config, str(args.gpus)]
    else:
        cmd = [sys.executable, 'tools/train.py', args.config]
    cmd += ['--work-dir', work_dir]
    if resume is True:
        cmd.append('--resume')
    elif resume:
        cmd += ['--resume', resume]
    cmd += ['--cfg-options', *opts]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=args.timeout)
    if res.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed:\n{res.stderr[-3000:]}')
    warnings = [line for line in (res.stdout + res.stderr).splitlines()
                if 'resume is not exact' in line]
    for line in warnings:
        print(line)


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def load(path: str) -> dict:
    from mmtec.checkpoint import safe_load
    return safe_load(path)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.work_dir) and (not osp.isdir(args.work_dir)
                                      or os.listdir(args.work_dir)):
        sys.exit(f'--work-dir {args.work_dir} exists and is not empty; '
                 'give a new folder (this tool writes two runs into it).')
    straight = osp.join(args.work_dir, 'straight')
    split = osp.join(args.work_dir, 'split')
    n = args.epochs
    train(args, straight, 2 * n)
    if args.iter_interval:
        k = args.iter_interval
        first = osp.join(straight, f'iter_{k}.pth')
        train(args, split, 2 * n, resume=first)
        half = load(first)
    else:
        train(args, split, n)
        half = load(last_checkpoint(split))
        train(args, split, 2 * n, resume=True)
    a, b = load(last_checkpoint(straight)), load(last_checkpoint(split))
    if a['meta']['iter'] != b['meta']['iter']:
        sys.exit(f'The runs end at different iterations: {a["meta"]["iter"]}'
                 f' (straight) and {b["meta"]["iter"]} (resumed).')
    resumed_at = half['meta']['iter']
    a, b, half = a['state_dict'], b['state_dict'], half['state_dict']
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    moved = max((a[k].float() - half[k].float()).abs().max().item()
                for k in a)
    print(f'max |weights(straight) - weights(resumed at iteration '
          f'{resumed_at})| = {diff:.3g}; training '
          f'after the resume point moved the weights by up to {moved:.3g}')


if __name__ == '__main__':
    main()
