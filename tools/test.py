"""Evaluate a checkpoint with a config (MMPretrain, MMDet or MMSeg runner).

Example:
    python tools/test.py \
        configs/benchmarks/vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py \
        work_dirs/ft/epoch_100.pth
"""
import argparse
import os
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/, when imported
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmtec  # noqa: F401  (registers modules and the safe checkpoint loader)
from cli_errors import (
    add_debug_argument,
    existing_config,
    one_line_errors,
)
from mmtec.checkpoint import add_trust_argument, trust_checkpoint
from mmtec.run_config.adapt import adapt_to_cpu, fit_dataloaders_to_workers
from mmtec.run_config.checks import check_cfg_options, check_data_paths
from mmtec.run_config.config_arguments import check_config_arguments


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='dump the metrics to this json/pkl file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value (a key the '
        'config does not have is an error; +key=value adds one on purpose)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    add_trust_argument(parser)
    add_debug_argument(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    with one_line_errors(args.debug):
        evaluate(args)


def evaluate(args):
    cfg = Config.fromfile(existing_config(args.config))
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'Checkpoint {args.checkpoint} not found '
            f'({osp.abspath(args.checkpoint)}).')
    trust_checkpoint(args.trust_checkpoint)
    cfg.launcher = args.launcher
    cfg.merge_from_dict(check_cfg_options(cfg, args.cfg_options))
    check_config_arguments(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    check_data_paths(cfg, ['test_dataloader'])
    fit_dataloaders_to_workers(cfg)
    if not torch.cuda.is_available():
        adapt_to_cpu(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)
    metrics = runner.test()
    if args.out:
        from mmengine.fileio import dump
        dump(metrics, args.out)


if __name__ == '__main__':
    main()
