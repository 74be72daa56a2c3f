"""Measure how exactly ``--resume`` continues a run.

Trains ``2N`` epochs straight and ``N`` epochs, then ``--resume`` to ``2N``,
in fresh work dirs with ``tools/train.py`` (or ``tools/dist_train.sh``), and
prints the largest absolute difference between the two final weights, next
to how far the second half moved them.

Example (the tiny test config, 2 accumulation steps, constant lr 0.05):
    python tools/analysis_tools/resume_check.py \\
        tests/data/tec_vit-tiny_test.py --work-dir work_dirs/resume_check \\
        --cfg-options \\
        model.target_generator.checkpoint=base.pth \\
        train_dataloader.dataset.data_root=my_image_folder \\
        auto_scale_lr.enable=False optim_wrapper.optimizer.lr=0.05 \\
        param_scheduler.0.start_factor=1.0
"""
import argparse
import os.path as osp
import shutil
import subprocess
import sys


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True,
                        help='parent of the two runs (emptied first)')
    parser.add_argument('--epochs', type=int, default=1,
                        help='N: epochs before the resume')
    parser.add_argument('--gpus', type=int, default=0,
                        help='processes for tools/dist_train.sh (0: one '
                        'process with tools/train.py)')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    parser.add_argument('--timeout', type=float, default=24 * 3600,
                        help='seconds one training run may take before it '
                        'is stopped as hung (default: 24 h)')
    return parser.parse_args()


def train(args, work_dir: str, epochs: int, resume: bool) -> None:
    opts = [*args.cfg_options, f'train_cfg.max_epochs={epochs}']
    if args.gpus:
        cmd = ['bash', 'tools/dist_train.sh', args.config, str(args.gpus)]
    else:
        cmd = [sys.executable, 'tools/train.py', args.config]
    cmd += ['--work-dir', work_dir] + (['--resume'] if resume else [])
    cmd += ['--cfg-options', *opts]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=args.timeout)
    if res.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed:\n{res.stderr[-3000:]}')


def weights(work_dir: str, epoch: int) -> dict:
    from mmtec.checkpoint import safe_load
    return safe_load(osp.join(work_dir, f'epoch_{epoch}.pth'))['state_dict']


def main():
    args = parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    straight = osp.join(args.work_dir, 'straight')
    split = osp.join(args.work_dir, 'split')
    n = args.epochs
    train(args, straight, 2 * n, resume=False)
    train(args, split, n, resume=False)
    train(args, split, 2 * n, resume=True)
    a, b = weights(straight, 2 * n), weights(split, 2 * n)
    half = weights(split, n)
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    moved = max((a[k].float() - half[k].float()).abs().max().item()
                for k in a)
    print(f'max |weights({2 * n} epochs) - weights({n} + {n} resumed)| = '
          f'{diff:.3g}; the last {n} epoch(s) moved the weights by up to '
          f'{moved:.3g}')


if __name__ == '__main__':
    main()
