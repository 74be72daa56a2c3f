"""Train a model (TEC pretraining or any MMPretrain config using mmtec).

Examples:
    python tools/train.py configs/tec_vit-b_800e_in1k.py
    bash tools/dist_train.sh configs/tec_vit-b_800e_in1k.py 8
"""
import argparse
import logging
import os
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/, when imported
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmtec  # noqa: F401  (registers modules and the safe checkpoint loader)
from cli_errors import (
    add_debug_argument,
    existing_config,
    one_line_errors,
)
from mmtec.checkpoint import add_trust_argument, trust_checkpoint
from mmtec.engine.resume import checkpoint_folders, find_resumable_checkpoint
from mmtec.run_config.adapt import (
    adapt_amp_to_gpu,
    adapt_to_cpu,
    apply_auto_scale_lr,
    apply_gpu_decode,
    fit_dataloaders_to_workers,
    scale_lr_for_accumulation,
)
from mmtec.run_config.checks import (
    check_cfg_options,
    check_data_paths,
    check_learning_rates,
    check_training_length,
    check_writable_work_dir,
)
from mmtec.run_config.config_arguments import check_config_arguments


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or without a path from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='force mixed-precision training')
    parser.add_argument(
        '--no-auto-scale-lr',
        action='store_true',
        help='use the config lr as is instead of scaling it by the batch')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, e.g. '
        'model.target_generator.checkpoint=base.pth. A key the config does '
        'not have is an error (unless its parent has a `type`, whose class '
        'checks it); write +key=value to add a new key on purpose')
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


def merge_args(cfg: Config, args) -> Config:
    # before anything is loaded: choosing the checkpoint to resume reads files
    trust_checkpoint(args.trust_checkpoint)
    cfg.launcher = args.launcher
    if args.work_dir is not None and 'work_dir' in (args.cfg_options or {}):
        raise ValueError(
            f'--work-dir {args.work_dir} and --cfg-options work_dir='
            f'{args.cfg_options["work_dir"]} both set the work dir; give '
            'only one of them.')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume {args.resume}: no such checkpoint file.')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # typos stop here, before any checkpoint is read or anything built
    check_config_arguments(cfg)
    if args.no_auto_scale_lr and cfg.get('auto_scale_lr'):
        cfg.auto_scale_lr.enable = False
    scale_lr_for_accumulation(cfg)
    check_learning_rates(cfg)
    fit_dataloaders_to_workers(cfg)
    if not torch.cuda.is_available():
        adapt_to_cpu(cfg)
    else:
        adapt_amp_to_gpu(cfg)
    apply_gpu_decode(cfg)
    if cfg.get('resume') and not cfg.get('load_from'):
        choose_auto_resume(cfg)
    return cfg


def choose_auto_resume(cfg: Config) -> None:
    """Resume from the checkpoint the run wrote last, or start afresh.

    Looks in the work dir and in ``default_hooks.checkpoint.out_dir`` (see
    :func:`mmtec.engine.resume.find_resumable_checkpoint`). Starting from
    scratch when there is nothing to resume keeps a requeued job's command
    line the same for its first and later runs.
    """
    out_dir = (cfg.get('default_hooks') or {}).get('checkpoint',
                                                     {}).get('out_dir')
    path = find_resumable_checkpoint(cfg.work_dir, out_dir)
    if path is None:
        others = checkpoint_folders(cfg.work_dir, out_dir)[:-1]
        print_log(
            f'--resume: no checkpoint to resume from in the work dir '
            f'{osp.abspath(cfg.work_dir)}'
            + ''.join(f' or in {folder}' for folder in others) +
            '; training starts from scratch.',
            logger='current',
            level=logging.WARNING)
        cfg.resume = False
    else:
        print_log(f'--resume: resuming from {path}', logger='current')
        cfg.load_from = path


def check_before_run(cfg: Config) -> None:
    """Refuse settings that cannot train, before anything is built."""
    check_training_length(cfg)
    check_data_paths(cfg)
    check_writable_work_dir(cfg)


def main():
    args = parse_args()
    with one_line_errors(args.debug):
        cfg = Config.fromfile(existing_config(args.config))
        args.cfg_options = check_cfg_options(cfg, args.cfg_options)
        cfg = merge_args(cfg, args)
        check_before_run(cfg)
        if 'runner_type' not in cfg:
            runner = Runner.from_cfg(cfg)
        else:
            runner = RUNNERS.build(cfg)
        apply_auto_scale_lr(runner, cfg)
        runner.train()


if __name__ == '__main__':
    main()
