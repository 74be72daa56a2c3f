"""Does TEC save compute? TEC against more MAE from a saturated MAE base.

The paper's claim: once a self-supervised model has saturated, spending
further compute on TEC (a new model trained on the old one) buys more than
spending it on more of the old method. In miniature, on all 60,000
Fashion-MNIST training images, for every seed:

    ``base``         MAE trained E epochs, kNN measured after every
                     ``--curve-every`` epochs (saturated when kNN gains
                     < 0.5 points over the last quarter of its epochs)
(a) ``mae_cont``     MAE continued from the base for E_m epochs
(b) ``tec``          TEC on the base for E' epochs
(c) ``tec_gen2``     TEC on ``tec`` for E' epochs (``--gen2``)
(d) ``mae_scratch``  MAE from scratch for E + E_m epochs

E_m is the number of MAE epochs whose training FLOPs are closest to E'
TEC epochs (TEC runs the frozen base on the whole image as well), so (a),
(b) and (d) spend the same extra compute. Training FLOPs are counted with
:func:`fmnist_lab.train_flops_per_image` (torch's FlopCounterMode, one
forward + backward step, the frozen base forward only). Every model is
evaluated on frozen features (cosine kNN with mmtec's default k and
temperature, linear probe) on the test split. Seeds run as parallel
processes (``--jobs``); finished stages and evaluations are cached in
``--work-dir``, so a study that stopped continues where it stopped. The report (``--out-md``) and the plot of
accuracy against cumulative training PFLOPs (``--out-png``) are written
from those records.

The paper's own measures (``--claims``, or each of ``--finetune``,
``--accel``, ``--contrastive``; report section "The paper's claims" and
the figure ``<out-png>_claims.png``):

    fine-tuning      every arm fine-tuned end to end with one recipe
                     (``projects/fashion_mnist/configs/vit-w64d3-p7_ft_fmnist.py``: MMPretrain's
                     ImageClassifier and layer-wise lr decay) on all labels
                     and on a 10% split, top-1 on the test split; reference
                     rows: the ViT from random initialisation, raw pixels
    ``short_base``   MAE from scratch for E_s (about E/4) epochs, its own
                     schedule; ``short_tec``: TEC on it for E' epochs,
                     against the long MAE (the acceleration claim)
    ``moco``         MMPretrain's MoCo v3 on the same images for E_c epochs
                     (its kNN curve: the same plateau criterion);
                     ``moco_cont``: continued for E_mc epochs (E' TEC
                     epochs' FLOPs); ``moco_tec``: TEC on its encoder

Each claim gets the paper's number, ours (paired per seed) and a verdict:
holds / does not hold / not measurable at this scale (and why).

Examples:
    # the study of projects/fashion_mnist/docs/sustainability.md
    nice -n 10 python projects/fashion_mnist/tools/sustainability_study.py \
        --scale full
    # a seconds-long check of the whole pipeline (CI)
    python projects/fashion_mnist/tools/sustainability_study.py --scale tiny \
        --work-dir /tmp/sus --out-md /tmp/sus/s.md --out-png /tmp/sus/s.png
    # the paper's claims, measured by fine-tuning (report: the same
    # sustainability.md, with its claims section and
    # sustainability_claims.png), in parts of at most 2 hours: exit code 75
    # until every stage has finished
    until nice -n 10 python \
        projects/fashion_mnist/tools/sustainability_study.py \
        --scale full --claims --hours 2; do [ $? -eq 75 ] || break; done
"""
import argparse
import os
import os.path as osp
import shlex
import subprocess
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
MAE_CONFIG = 'mae_vit-w64d3-p7_fmnist.py'  # in projects/fashion_mnist/configs
TEC_CONFIG = 'tec_vit-w64d3-p7_fmnist.py'
MOCO_CONFIG = 'mocov3_vit-w64d3-p7_fmnist.py'
FINETUNE_CONFIG = 'vit-w64d3-p7_ft_fmnist.py'

# per-class counts: None = the whole split
SCALES = {
    'tiny': dict(seeds=[0, 1], base_epochs=2, tec_epochs=1,
                 train_per_class=10, bank_per_class=10, test_per_class=10,
                 batch_size=16, curve_every=1, jobs=1,
                 ft_epochs=1, ft_low_epochs=1, ft_low_per_class=1,
                 ft_batch_size=16),
    # the paper's claims in minutes (one seed, 10% of the images)
    'small': dict(seeds=[0], base_epochs=4, tec_epochs=1,
                  train_per_class=600, bank_per_class=200,
                  test_per_class=200, batch_size=128, curve_every=1,
                  jobs=1, ft_epochs=3, ft_low_epochs=10,
                  ft_low_per_class=60, ft_batch_size=128),
    'full': dict(seeds=[0, 1, 2], base_epochs=20, tec_epochs=4,
                 train_per_class=None, bank_per_class=1000,
                 test_per_class=None, batch_size=512, curve_every=1,
                 jobs=3, ft_epochs=10, ft_low_epochs=30,
                 ft_low_per_class=600, ft_batch_size=512),
}
# the arms of the paper's other claims (--accel, --contrastive) and the
# reference rows of --finetune; reported by fmnist_lab.paper_claims
CLAIM_ARMS = {  # name: (label, description)
    'short_base': ('MAE short base', 'MAE, E_s epochs (about E/4), its own '
                   'schedule'),
    'short_tec': ('short base + TEC', "TEC on the short base, E' epochs"),
    'moco': ('MoCo v3 base', 'MoCo v3, E_c epochs (its plateau)'),
    'moco_cont': ('MoCo v3 continued', 'MoCo v3 continued from its base, '
                  'E_mc more epochs'),
    'moco_tec': ('TEC on MoCo v3', "TEC on the MoCo v3 base, E' epochs"),
    'random': ('random init (reference)', 'the ViT fine-tuned from random '
               'initialisation'),
    'pixels': ('raw pixels (reference)', 'kNN / linear probe on the '
               '2,352 pixel values'),
}
# TEC on the contrastive base takes the paper's iBOT recipe: attention
# target top-9 of 196 patches (4.6%: 1 of 16 here), tau 1.0
MOCO_TEC_OPTIONS = {'model.target_generator.topk': 1,
                    'model.head.loss_attention.tau': 1.0}
ARMS = {  # name: (label, description)
    'base': ('MAE base', 'MAE, E epochs (the base)'),
    'mae_cont': ('(a) MAE continued', 'MAE continued from the base, E_m '
                 'more epochs'),
    'tec': ('(b) TEC', "TEC on the base, E' epochs"),
    'tec_gen2': ('(c) TEC gen-2', "TEC on (b), E' epochs"),
    'mae_scratch': ('(d) MAE from scratch', 'MAE from scratch, E + E_m '
                    'epochs'),
}
SATURATION_POINTS = 0.5
NUM_HEADS = 2  # of the configs' ViT (checkpoints do not store it)
# linear warm-up over the first 10% of every run (MAE: 40 of 800 epochs),
# then cosine to 0: short runs (1-2 epochs) get a warm-up of their own
WARMUP_FRACTION = 0.1


def parse_args(argv=None):
    from fmnist_lab import add_data_arguments, fill_data_arguments
    parser = argparse.ArgumentParser(
        description='TEC vs more MAE from a saturated MAE base, against '
        'training compute (Fashion-MNIST)')
    parser.add_argument('--scale', choices=list(SCALES), default='full',
                        help='preset of the settings below')
    parser.add_argument('--seeds', type=int, nargs='+')
    parser.add_argument('--base-epochs', type=int, help='E')
    parser.add_argument('--tec-epochs', type=int, help="E'")
    parser.add_argument('--mae-extra-epochs', type=int,
                        help='E_m (default: the FLOPs of E\' TEC epochs)')
    parser.add_argument('--gen2', action='store_true',
                        help='also (c): TEC on the TEC model')
    parser.add_argument('--arms', nargs='+',
                        choices=['mae_cont', 'tec', 'mae_scratch'],
                        default=['mae_cont', 'tec', 'mae_scratch'],
                        help='arms besides the base (e.g. leave out '
                        'mae_scratch for a cheaper variant)')
    claims = parser.add_argument_group(
        "the paper's measures (report: the claims section, figure "
        '<out-png>_claims.png)')
    claims.add_argument('--claims', action='store_true',
                        help='all of --finetune --accel --contrastive '
                        '--gen2')
    claims.add_argument('--finetune', action='store_true',
                        help='fine-tune every arm end to end on all labels '
                        'and on --ft-low-per-class, with the random-init '
                        'and raw-pixel reference rows')
    claims.add_argument('--accel', action='store_true',
                        help='the acceleration claim: a short MAE base (E_s '
                        "epochs) + E' TEC epochs against the long MAE")
    claims.add_argument('--contrastive', action='store_true',
                        help='a MoCo v3 base (E_c epochs), TEC on it vs '
                        'continuing it')
    claims.add_argument('--short-base-epochs', type=int,
                        help='E_s (default: E/4 rounded, at least 1)')
    claims.add_argument('--moco-epochs', type=int, help='E_c (default: E)')
    claims.add_argument('--moco-extra-epochs', type=int,
                        help="E_mc (default: the FLOPs of E' TEC epochs)")
    claims.add_argument('--ft-epochs', type=int,
                        help='fine-tuning epochs on all labels')
    claims.add_argument('--ft-low-epochs', type=int,
                        help='fine-tuning epochs on the low-label split')
    claims.add_argument('--ft-low-per-class', type=int,
                        help='labels per class of the low-label split '
                        '(10%% of the pretraining images per class)')
    claims.add_argument('--ft-batch-size', type=int)
    add_data_arguments(parser)
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--curve-every', type=int,
                        help='kNN of the base every N epochs')
    parser.add_argument('--jobs', type=int,
                        help='seeds trained in parallel processes')
    parser.add_argument('--work-dir', default='work_dirs/sustainability')
    parser.add_argument(
        '--out-md', help='default: projects/fashion_mnist/docs/'
        'sustainability.md')
    parser.add_argument(
        '--out-png', help='default: projects/fashion_mnist/docs/'
        'sustainability.png')
    parser.add_argument('--no-report', action='store_true',
                        help='train and evaluate only (a seed process)')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: report the finished runs and '
                        'list the missing ones')
    parser.add_argument(
        '--hours', type=float,
        help='time limit: after it, running stages stop at their next '
        'epoch end (saved) and no new one starts; the report shows what '
        'has finished and the command exits with 75. Run it again to '
        'continue')
    # the limit as a time.time(), handed from the study to its seed
    # processes
    parser.add_argument('--stop-at', type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    fill_data_arguments(args, SCALES[args.scale])
    if args.base_epochs < 1 or args.tec_epochs < 1:
        parser.error('--base-epochs and --tec-epochs must be >= 1')
    if args.claims:
        args.finetune = args.accel = args.contrastive = args.gen2 = True
    stem = osp.join('projects', 'fashion_mnist', 'docs',
                    'sustainability')
    args.out_md = args.out_md or stem + '.md'
    args.out_png = args.out_png or stem + '.png'
    if args.short_base_epochs is None:
        args.short_base_epochs = max(1, int(round(args.base_epochs / 4)))
    if args.moco_epochs is None:
        args.moco_epochs = args.base_epochs
    for key in ('short_base_epochs', 'moco_epochs', 'ft_epochs',
                'ft_low_epochs', 'ft_low_per_class', 'ft_batch_size'):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got "
                         f'{getattr(args, key)}')
    if args.accel and args.short_base_epochs >= args.base_epochs:
        parser.error(f'--short-base-epochs ({args.short_base_epochs}) must '
                     f'be below --base-epochs ({args.base_epochs}): the '
                     'acceleration claim compares a short base with the '
                     'long one')
    if args.hours is not None and args.hours <= 0:
        parser.error(f'--hours must be > 0, got {args.hours}')
    if args.stop_at is None and args.hours is not None:
        args.stop_at = time.time() + 3600 * args.hours
    # the CPU study: keep MMEngine's Runner off a GPU that happens to be there
    os.environ['CUDA_VISIBLE_DEVICES'] = ''
    return args


def common_options(args):
    return {
        'train_dataloader.dataset.data_root': args.data_root,
        'train_dataloader.dataset.num_per_class': args.train_per_class,
        'train_dataloader.batch_size': args.batch_size,
    }


def flops_per_image(args):
    """Training FLOPs per image of an MAE and a TEC step (cached)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from fmnist_lab import cached_eval, project_config, train_flops_per_image
    from mmtec.registry import MODELS
    mae_cfg = project_config(MAE_CONFIG)
    tec_cfg = project_config(TEC_CONFIG)
    base = osp.abspath(osp.join(args.work_dir, 'flops', 'random_mae.pth'))

    def count():
        # TEC's FLOPs do not depend on the base's weights: a random base
        cfg = Config.fromfile(mae_cfg)
        init_default_scope('mmpretrain')
        model = MODELS.build(cfg.model)
        os.makedirs(osp.dirname(base), exist_ok=True)
        torch.save({'state_dict': model.state_dict()}, base)
        return dict(
            mae=train_flops_per_image(mae_cfg, batch_size=32),
            tec=train_flops_per_image(
                tec_cfg, {'model.target_generator.checkpoint': base},
                batch_size=32))

    return cached_eval(
        osp.join(args.work_dir, 'flops', 'flops.json'),
        dict(mae=mae_cfg, tec=tec_cfg, counter='FlopCounterMode'), count)


def moco_flops_per_image(args):
    """Training FLOPs per image (two views) of a MoCo v3 step (cached).

    TEC on the MoCo v3 base costs what TEC on the MAE base costs: the same
    ViT runs as the frozen base.
    """
    from fmnist_lab import cached_eval, project_config, train_flops_per_image
    cfg = project_config(MOCO_CONFIG)
    return cached_eval(
        osp.join(args.work_dir, 'flops', 'moco.json'),
        dict(moco=cfg, views=2, counter='FlopCounterMode'),
        lambda: dict(moco=train_flops_per_image(cfg, batch_size=32,
                                                num_views=2)))['moco']


def moco_extra_epochs(args, flops):
    """E_mc: the MoCo v3 epochs whose FLOPs are closest to E' TEC ones."""
    if args.moco_extra_epochs:
        return args.moco_extra_epochs
    return max(1, int(round(args.tec_epochs * flops['tec'] / flops['moco'])))


def mae_extra_epochs(args, flops):
    if args.mae_extra_epochs:
        return args.mae_extra_epochs
    return max(1, int(round(args.tec_epochs * flops['tec'] / flops['mae'])))


def curve_epochs(args, epochs=None):
    E = epochs or args.base_epochs
    return sorted(set(range(args.curve_every, E + 1, args.curve_every)) |
                  {E, saturation_start(E)} - {0})


def saturation_start(epochs):
    """First epoch of the last quarter (at least 1 epoch before the end)."""
    return max(1, min(epochs - 1, int(np.floor(0.75 * epochs))))


def run_seed(args, seed, eval_sets, e_m):
    """Every arm of one seed: train (or reuse) and evaluate (or reuse)."""
    from fmnist_lab import (
        evaluate_cached,
        pretrain_stage,
        project_config,
        read_json,
    )
    mae_cfg = project_config(MAE_CONFIG)
    tec_cfg = project_config(TEC_CONFIG)
    E, E2 = args.base_epochs, args.tec_epochs
    opts = common_options(args)
    seed_dir = osp.join(args.work_dir, f'seed{seed}')
    # iterations per epoch: the warm-up is at least 5 iterations long (the
    # linear ramp stops one step short of the peak lr)
    images = 60000 if args.train_per_class is None else \
        10 * args.train_per_class
    iters = -(-images // args.batch_size)

    def stage(name, config, epochs, extra=None, keep=False):
        work_dir = osp.join(seed_dir, name)
        record = read_json(osp.join(work_dir, 'stage.json'))
        if args.report_only and (record is None or
                                 not osp.isfile(record['checkpoint'])):
            return None  # not trained (yet): reported as missing
        return pretrain_stage(
            f'{name}_seed{seed}', config, osp.join(seed_dir, name), epochs,
            dict(opts, **(extra or {})), seed=seed, log_interval=20,
            keep_checkpoints=keep, stop_at=args.stop_at,
            warmup_epochs=max(WARMUP_FRACTION * epochs, 5.5 / iters))

    def evaluate(name, checkpoint, linear=True):
        res = evaluate_cached(
            osp.join(seed_dir, f'eval_{name}.json'), checkpoint, eval_sets,
            'mean', f'{name} seed {seed}', batch_size=500, linear=linear,
            num_heads=NUM_HEADS)
        print(f'[sustainability] seed {seed} {name}: kNN '
              f'{res["knn_top1"]:.2f}' +
              (f' linear {res["linear_top1"]:.2f}' if linear else ''),
              flush=True)
        return res

    out = dict(seed=seed, curve={}, arms={}, train_s={})
    stages = dict(base=stage('base', mae_cfg, E, keep=True))
    if stages['base'] is None:
        return out
    base_dir = osp.dirname(stages['base']['checkpoint'])
    for ep in curve_epochs(args):
        res = evaluate(f'base_epoch{ep}', osp.join(base_dir,
                                                   f'epoch_{ep}.pth'),
                       linear=ep == E)
        out['curve'][ep] = res['knn_top1']
        if ep == E:
            out['arms']['base'] = res
    base_ckpt = stages['base']['checkpoint']
    # each arm evaluated as soon as it is trained; the optional second
    # generation last, so the required arms finish first
    arms = [('mae_cont', mae_cfg, e_m, {'load_from': base_ckpt}),
            ('tec', tec_cfg, E2,
             {'model.target_generator.checkpoint': base_ckpt}),
            ('mae_scratch', mae_cfg, E + e_m, None)]
    arms = [a for a in arms if a[0] in args.arms]
    if args.gen2 and 'tec' in args.arms:
        arms.append(('tec_gen2', tec_cfg, E2, None))
    for name, config, epochs, extra in arms:
        if name == 'tec_gen2':
            if stages['tec'] is None:
                continue
            extra = {'model.target_generator.checkpoint':
                     stages['tec']['checkpoint']}
        stages[name] = stage(name, config, epochs, extra)
        if stages[name] is not None:
            out['arms'][name] = evaluate(name, stages[name]['checkpoint'])
    run_claim_stages(args, seed, stages, out, stage, evaluate)
    out['train_s'] = {name: st['wall_s'] for name, st in stages.items()
                      if st is not None}
    out['num_images'] = stages['base']['num_images']
    return out


def run_claim_stages(args, seed, stages, out, stage, evaluate):
    """The stages of --accel, --contrastive and --finetune for one seed.

    ``stages`` holds the finished stages of the seed (updated here),
    ``out`` its results; ``stage`` and ``evaluate`` are :func:`run_seed`'s.
    """
    from fmnist_lab import (
        evaluate_cached,
        export_backbone,
        finetune_top1,
        project_config,
    )
    mae_cfg = project_config(MAE_CONFIG)
    tec_cfg = project_config(TEC_CONFIG)
    seed_dir = osp.join(args.work_dir, f'seed{seed}')
    # the weights each arm's transfer starts from (MoCo v3: its encoder)
    weights = {name: st['checkpoint'] for name, st in stages.items()
               if st is not None}

    def add(name, config, epochs, extra=None, keep=False):
        stages[name] = stage(name, config, epochs, extra, keep=keep)
        if stages[name] is None:
            return None
        weights[name] = stages[name]['checkpoint']
        if name in ('moco', 'moco_cont'):  # not TEC on MoCo v3
            weights[name] = export_backbone(
                weights[name], osp.join(seed_dir, name, 'encoder.pth'))
        out['arms'][name] = evaluate(name, weights[name])
        return weights[name]

    if args.accel:
        short = add('short_base', mae_cfg, args.short_base_epochs)
        if short is not None:
            add('short_tec', tec_cfg, args.tec_epochs,
                {'model.target_generator.checkpoint': short})
    if args.contrastive:
        moco = add('moco', project_config(MOCO_CONFIG), args.moco_epochs,
                   keep=True)
        if moco is not None:
            # its learning curve: is it at its own plateau?
            out['moco_curve'] = {}
            moco_dir = osp.dirname(stages['moco']['checkpoint'])
            for ep in curve_epochs(args, args.moco_epochs):
                if ep == args.moco_epochs:
                    res = out['arms']['moco']
                else:
                    res = evaluate(f'moco_epoch{ep}', export_backbone(
                        osp.join(moco_dir, f'epoch_{ep}.pth'),
                        osp.join(moco_dir, f'encoder_epoch{ep}.pth')),
                        linear=False)
                out['moco_curve'][ep] = res['knn_top1']
            add('moco_cont', project_config(MOCO_CONFIG), args._e_mc,
                {'load_from': stages['moco']['checkpoint']})
            add('moco_tec', tec_cfg, args.tec_epochs,
                dict(MOCO_TEC_OPTIONS,
                     **{'model.target_generator.checkpoint': moco}))
    if not args.finetune:
        return
    out['arms']['pixels'] = evaluate_cached(
        osp.join(args.work_dir, 'eval_pixels.json'), None, args._eval_sets,
        'mean', 'raw pixels', batch_size=500)
    out['ft_s'] = {}
    # the headline arms first, the references last
    order = ['base', 'tec', 'mae_cont', 'mae_scratch', 'short_base',
             'short_tec', 'moco', 'moco_tec', 'moco_cont', 'tec_gen2',
             'random']
    for name in order:
        if name != 'random' and name not in weights:
            continue
        if args.report_only and not all(
                _finetuned(seed_dir, name, split)
                for split in ('ft', 'ft_low')):
            continue
        res = out['arms'].setdefault(name, {})
        out['ft_s'][name] = 0.
        for split, per_class, epochs in (
                ('ft', args.train_per_class, args.ft_epochs),
                ('ft_low', args.ft_low_per_class, args.ft_low_epochs)):
            ft = finetune_top1(
                f'{split}_{name}_seed{seed}', project_config(FINETUNE_CONFIG),
                osp.join(seed_dir, split, name), weights.get(name), epochs,
                args.data_root, train_per_class=per_class,
                test_per_class=args.test_per_class,
                batch_size=args.ft_batch_size, seed=seed, log_interval=20,
                stop_at=args.stop_at)
            res[f'{split}_top1'] = ft['top1']
            out['ft_s'][name] += ft['wall_s']
            print(f'[sustainability] seed {seed} {name}: fine-tuned '
                  f'({split}) top-1 {ft["top1"]:.2f}', flush=True)


def _finetuned(seed_dir, name, split):
    """Whether a fine-tuning run has finished (for --report-only)."""
    from fmnist_lab import read_json
    folder = osp.join(seed_dir, split, name)
    record = read_json(osp.join(folder, 'stage.json'))
    return (record is not None and osp.isfile(record['checkpoint'])
            and osp.isfile(osp.join(folder, 'test.json')))


def run_seeds_in_parallel(args, argv):
    """One child process per seed, ``--jobs`` at a time (logs in work-dir).

    Every child trains and evaluates its seed and caches the results; the
    parent then reads them all back. Returns whether a child stopped at the
    time limit (``--hours``).
    """
    from fmnist_lab.pretrain_stage import TIME_LIMIT_EXIT_CODE
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.stop_at is not None:  # one limit for all: the parent's
        argv += ['--stop-at', repr(args.stop_at)]
    os.makedirs(args.work_dir, exist_ok=True)
    pending, running, failed = list(args.seeds), [], []
    stopped = False
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            log = osp.join(args.work_dir, f'seed{seed}.log')
            cmd = [sys.executable, osp.abspath(__file__)] + argv + [
                '--seeds', str(seed), '--jobs', '1', '--no-report']
            print(f'[sustainability] seed {seed}: {shlex.join(cmd)} '
                  f'> {log}', flush=True)
            with open(log, 'a') as f:
                running.append((seed, log, subprocess.Popen(
                    cmd, stdout=f, stderr=subprocess.STDOUT)))
        time.sleep(2)
        for item in list(running):
            seed, log, proc = item
            if proc.poll() is not None:
                running.remove(item)
                print(f'[sustainability] seed {seed} finished (exit '
                      f'{proc.returncode})', flush=True)
                if proc.returncode == TIME_LIMIT_EXIT_CODE:
                    stopped = True
                elif proc.returncode:
                    failed.append((seed, log))
    if failed:
        raise RuntimeError('seed processes failed: ' + ', '.join(
            f'seed {s} (see {log})' for s, log in failed))
    return stopped


def requested_arms(args):
    return ['base'] + [a for a in ARMS if a in args.arms or
                       (a == 'tec_gen2' and args.gen2 and 'tec' in args.arms)]


def mean_std(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), (values.std(ddof=1) if len(values) > 1 else 0.)


def pm(values, sign=False):
    m, s = mean_std(values)
    return f'{m:+.2f} ± {s:.2f}' if sign else f'{m:.2f} ± {s:.2f}'


def cumulative_pflops(args, flops, e_m, n):
    """Training compute up to each arm's end (the base's included)."""
    E, E2 = args.base_epochs, args.tec_epochs
    mae, tec = n * flops['mae'] / 1e15, n * flops['tec'] / 1e15
    return dict(base=E * mae, mae_cont=(E + e_m) * mae,
                tec=E * mae + E2 * tec, tec_gen2=E * mae + 2 * E2 * tec,
                mae_scratch=(E + e_m) * mae), mae


def claim_pflops(args, flops, n):
    """Cumulative training PFLOPs of the claim arms (bases included)."""
    mae, tec = n * flops['mae'] / 1e15, n * flops['tec'] / 1e15
    E_s, E2 = args.short_base_epochs, args.tec_epochs
    out = dict(short_base=E_s * mae, short_tec=E_s * mae + E2 * tec,
               random=0., pixels=0.)
    if 'moco' in flops:
        moco, E_c = n * flops['moco'] / 1e15, args.moco_epochs
        out.update(moco=E_c * moco, moco_cont=(E_c + args._e_mc) * moco,
                   moco_tec=E_c * moco + E2 * tec)
    return out


def claims_section(args, results, flops, e_m, n, wall_text):
    """The report's section on the paper's claims (and its figure)."""
    from fmnist_lab import device_name, markdown_table
    from fmnist_lab.paper_claims import arms_table, claims_plot, claims_table
    E, E2, E_s = args.base_epochs, args.tec_epochs, args.short_base_epochs
    pflops, mae_epoch_pf = cumulative_pflops(args, flops, e_m, n)
    pflops.update(claim_pflops(args, flops, n))
    labels = {name: label for name, (label, _) in ARMS.items()}
    labels.update({name: label for name, (label, _) in CLAIM_ARMS.items()})
    epochs = dict(base=f'{E}', mae_cont=f'{E} + {e_m}',
                  tec=f'{E} + {E2} TEC', tec_gen2=f'{E} + {E2} + {E2} TEC',
                  mae_scratch=f'{E + e_m}', short_base=f'{E_s}',
                  short_tec=f'{E_s} + {E2} TEC', random='0', pixels='0')
    curves = dict(curve=('base', mae_epoch_pf))
    if 'moco' in flops:
        E_c = args.moco_epochs
        epochs.update(moco=f'{E_c} MoCo', moco_cont=f'{E_c} + '
                      f'{args._e_mc} MoCo', moco_tec=f'{E_c} MoCo + {E2} TEC')
        curves['moco_curve'] = ('moco', n * flops['moco'] / 1e15)
    png = osp.splitext(args.out_png)[0] + '_claims.png'
    claims_plot(results, labels, pflops, png, curves)
    table = claims_table(results, pflops, labels)
    arms = arms_table(results, list(labels), labels, epochs, pflops)
    what = '\n'.join(f'- {labels[name]}: {CLAIM_ARMS[name][1]}.'
                      for name in CLAIM_ARMS if any(
                          name in r['arms'] for r in results))
    moco_text = ''
    moco_rows = [r for r in results if r.get('moco_curve')]
    if moco_rows:
        E_c = args.moco_epochs
        eps = sorted(moco_rows[0]['moco_curve'], key=int)
        q = saturation_start(E_c)
        rows = []
        for r in moco_rows:
            c = {int(k): v for k, v in r['moco_curve'].items()}
            gain = c[E_c] - c[q]
            rows.append([r['seed']] + [f'{c[int(e)]:.2f}' for e in eps] +
                        [f'{gain:+.2f}', 'yes' if gain < SATURATION_POINTS
                         else 'no'])
        moco_text = f"""
The MoCo v3 base's kNN top-1 (%) after each epoch; the same plateau
criterion as the MAE base (gain over epochs {q} → {E_c} below
{SATURATION_POINTS} points):

{markdown_table(['seed'] + [f'epoch {e}' for e in eps] +
                [f'gain epoch {q} → {E_c}',
                 f'saturated (< {SATURATION_POINTS})'], rows)}
"""
    train_s = sum(sum(r.get('train_s', {}).values()) for r in results)
    ft_s = sum(sum(r.get('ft_s', {}).values()) for r in results)
    low = args.ft_low_per_class
    full = ('all 60,000' if args.train_per_class is None else
            f'{10 * args.train_per_class:,}')
    test = ('all 10,000' if args.test_per_class is None else
            f'{10 * args.test_per_class:,}')
    moco_flops = (f", MoCo v3 {flops['moco'] / 1e6:.1f} MFLOPs per image "
                  f"(two views; E_mc = {args._e_mc} MoCo epochs match E' "
                  'TEC epochs)' if 'moco' in flops else '')
    return f"""## The paper's claims, measured as the paper measures them

Headline metric: top-1 on {test} test images after fine-tuning end to end
({full} labels, and a low-label split of {low} per class = {10 * low:,}
labels); kNN and linear probe on frozen features are the secondary columns.
Differences are paired per seed (same seed, same base): mean ± std, then
each seed. The verdict reads fine-tuning on all labels when fine-tuning
from the claim's pretrained base beats random initialisation there on
every seed, else the 10% split under the same condition (the verdict says
so), else the claim is not measurable at this scale: fine-tuning then does
not see the pretraining.

{table}

{arms}

![accuracy against training compute]({osp.basename(png)})

{what}
{moco_text}
How these were measured:

- Fine-tuning: one recipe for every arm, `projects/fashion_mnist/configs/{FINETUNE_CONFIG}`
  (MMPretrain's MAE fine-tuning recipe scaled down: ImageClassifier,
  PretrainedVisionTransformer reading the pretraining checkpoint through
  its `Pretrained` init_cfg, average pooling + fc_norm, drop path 0.1,
  AdamW (0.9, 0.999), weight decay 0.05, layer-wise lr decay 0.65 with
  MMPretrain's `LearningRateDecayOptimWrapperConstructor`, label smoothing
  0.1, warm-up over 10% then cosine; for runs of hundreds of steps lr
  4e-3 instead of 5e-4 per 256 images and a crop of 80-100% of the area;
  no RandAugment / random erasing / mixup / cutmix), batch
  {args.ft_batch_size}, {args.ft_epochs} epochs on all labels and
  {args.ft_low_epochs} on the low-label split for every arm, MMEngine's
  test loop for top-1. The reference row "random init" fine-tunes the same
  ViT from random initialisation; "raw pixels" probes the pixel values.
- Acceleration: the short MAE base is its own run of E_s = {E_s} epochs
  (warm-up and cosine to 0 within them: MAE's 300-epoch schedule, not an
  early checkpoint of the long one), then TEC for E' = {E2} epochs on it;
  the long MAE schedule is the base ({E} epochs).
- Contrastive base: MMPretrain's MoCo v3 (`MoCoV3`, `MoCoV3ViT`, the same
  ViT; `projects/fashion_mnist/configs/{MOCO_CONFIG}`) on the same images;
  its online encoder is the base model of TEC (with the paper's iBOT
  recipe: attention target top-1 of 16 patches, tau 1.0) and the
  fine-tuned backbone.
- Compute: pretraining FLOPs as above{moco_flops}; fine-tuning, the same
  for every arm, is not counted.
- Machine: {device_name()}. Pretraining time over all runs and seeds:
  {train_s:.0f} s; fine-tuning: {ft_s:.0f} s. Wall time of the invocations
  that produced these records: {wall_text}.
"""


def plot(args, results, arms, pflops, mae_epoch_pf, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colors = dict(base='#7f7f7f', mae_cont='#ff7f0e', tec='#1f77b4',
                  tec_gen2='#17becf', mae_scratch='#2ca02c')
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100)
    for ax, metric, label in zip(axes, ('knn_top1', 'linear_top1'),
                                 ('kNN top-1 (%)', 'linear probe top-1 (%)')):
        base = [r['arms']['base'][metric] for r in results]
        if metric == 'knn_top1':  # the base's learning curve
            eps = sorted(results[0]['curve'], key=int)
            ys = np.array([[r['curve'][e] for e in eps] for r in results])
            xs = [e * mae_epoch_pf for e in eps]
            ax.plot(xs, ys.mean(0), '-o', color=colors['base'], ms=3,
                    label='MAE base (learning curve)')
            ax.fill_between(xs, ys.min(0), ys.max(0), color=colors['base'],
                            alpha=0.2)
        for name in arms:
            if name == 'base':
                continue
            start = 'tec' if name == 'tec_gen2' else 'base'
            rs = having(results, name, start)
            x0 = 0. if name == 'mae_scratch' else pflops[start]
            y0 = ([np.nan] * len(rs) if name == 'mae_scratch' else
                  [r['arms'][start][metric] for r in rs])
            ys = np.array([r['arms'][name][metric] for r in rs])
            m, lo, hi = ys.mean(), ys.min(), ys.max()
            ax.errorbar([pflops[name]], [m], yerr=[[m - lo], [hi - m]],
                        fmt='s', color=colors[name], capsize=4,
                        label=f'{ARMS[name][0]} (mean, seed range)')
            if name != 'mae_scratch':
                ax.plot([x0, pflops[name]], [np.mean(y0), m], '-',
                        color=colors[name])
        ax.errorbar([pflops['base']], [np.mean(base)],
                    yerr=[[np.mean(base) - min(base)],
                          [max(base) - np.mean(base)]], fmt='o',
                    color=colors['base'], capsize=4,
                    label=None if metric == 'knn_top1' else 'MAE base')
        ax.set_xlabel('cumulative training compute (PFLOPs)')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='best')
    fig.suptitle(f'Fashion-MNIST, {len(results)} seeds: accuracy against '
                 'training compute (base included)', fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def having(results, *names):
    """The seeds' results that have every one of the arms ``names``."""
    return [r for r in results if all(n in r['arms'] for n in names)]


def paired(results, a, b, metric):
    return [r['arms'][a][metric] - r['arms'][b][metric]
            for r in having(results, a, b)]


def per_seed(results, a, b, metric):
    return ', '.join(f'{x:+.2f} (seed {r["seed"]})' for x, r in zip(
        paired(results, a, b, metric), having(results, a, b)))


def verdict(results):
    """The plain answer, from the per-seed kNN and linear differences."""
    lines = []
    for other, what in (('mae_cont', 'more MAE from the same base'),
                        ('mae_scratch', 'MAE trained from scratch for the '
                         'same total compute')):
        for metric, mname in (('knn_top1', 'kNN'),
                              ('linear_top1', 'linear probe')):
            d = paired(results, 'tec', other, metric)
            seeds = per_seed(results, 'tec', other, metric)
            if not d:
                lines.append(f'- {mname}, TEC vs {what}: not measured.')
                continue
            if all(x > 0 for x in d):
                word = '**TEC is better** on every seed'
            elif all(x < 0 for x in d):
                word = '**TEC is worse** on every seed'
            else:
                word = '**no consistent difference** (the sign changes ' \
                    'across seeds)'
            lines.append(f'- {mname}, TEC vs {what}: {word}: '
                         f'{pm(d, True)} points ({seeds}).')
    return '\n'.join(lines)


def report(args, results, arms, flops, e_m, wall, command, argv_seconds):
    from fmnist_lab import device_name, markdown_table
    from mmtec.evaluation import KNN_K, KNN_TEMPERATURE
    E, E2 = args.base_epochs, args.tec_epochs
    n = results[0]['num_images']
    pflops, mae_epoch_pf = cumulative_pflops(args, flops, e_m, n)
    plot(args, results, arms, pflops, mae_epoch_pf, args.out_png)
    seeds = [r['seed'] for r in results]
    epochs = dict(base=f'{E}', mae_cont=f'{E} + {e_m}',
                  tec=f'{E} + {E2} TEC', tec_gen2=f'{E} + {E2} + {E2} TEC',
                  mae_scratch=f'{E + e_m}')
    rows = []
    for name in arms:
        rs = having(results, name)
        rows.append([
            ARMS[name][0], ARMS[name][1], epochs[name],
            f'{pflops[name]:.3g}', len(rs),
            pm([r['arms'][name]['knn_top1'] for r in rs]),
            pm([r['arms'][name]['linear_top1'] for r in rs]),
            f'{np.median([r["train_s"][name] for r in rs]):.0f}'
        ])
    table = markdown_table(
        ['arm', 'what', 'epochs', 'cumulative training PFLOPs', 'seeds',
         'kNN top-1 (%)', 'linear top-1 (%)',
         'train wall, median of seeds (s)'], rows)
    comparisons = [('tec', 'mae_cont'), ('tec', 'mae_scratch'),
                   ('tec', 'base'), ('mae_cont', 'base'),
                   ('mae_scratch', 'mae_cont')]
    if 'tec_gen2' in arms:
        comparisons += [('tec_gen2', 'tec'), ('tec_gen2', 'mae_cont')]
    diff_rows = [[
        f'{ARMS[a][0]} − {ARMS[b][0]}',
        pm(paired(results, a, b, 'knn_top1'), True),
        per_seed(results, a, b, 'knn_top1'),
        pm(paired(results, a, b, 'linear_top1'), True),
        per_seed(results, a, b, 'linear_top1')
    ] for a, b in comparisons if having(results, a, b)]
    diff_table = markdown_table(
        ['comparison', 'kNN (mean ± std)', 'kNN per seed',
         'linear (mean ± std)', 'linear per seed'], diff_rows)
    missing = [f'{ARMS[name][0]} seed {seed}' for seed in args.seeds
               for name in requested_arms(args) if
               not any(r['seed'] == seed and name in r['arms']
                       for r in results)]
    missing_text = ('' if not missing else
                    '**Not finished (missing from every number here): ' +
                    ', '.join(missing) + '.**\n\n')
    eps = sorted(results[0]['curve'])
    q = saturation_start(E)
    sat_rows, saturated = [], []
    for r in results:
        gain = r['curve'][E] - r['curve'][q]
        saturated.append(gain < SATURATION_POINTS)
        sat_rows.append([r['seed']] + [f'{r["curve"][e]:.2f}' for e in eps]
                        + [f'{gain:+.2f}', 'yes' if saturated[-1] else 'no'])
    sat_table = markdown_table(
        ['seed'] + [f'epoch {e}' for e in eps] +
        [f'gain epoch {q} → {E}', f'saturated (< {SATURATION_POINTS})'],
        sat_rows)
    sat_text = ('The base meets the saturation criterion on every seed.'
                if all(saturated) else
                f'**The base does not meet the saturation criterion on '
                f'{len(saturated) - sum(saturated)} of {len(saturated)} '
                'seeds**; read the result with that in mind.')
    ratio = flops['tec'] / flops['mae']
    if args.finetune:
        measure_text = (
            'the paper fine-tunes ViT-B end to end with a 100-epoch ImageNet '
            'recipe and also transfers to detection and segmentation; here '
            'the claims section fine-tunes with that recipe scaled down '
            f'({args.ft_epochs} epochs on all labels, {args.ft_low_epochs} '
            f'on {args.ft_low_per_class} per class; no mixup / cutmix / '
            'RandAugment), and there is no detection or segmentation.')
    else:
        measure_text = (
            'the paper fine-tunes end to end (ImageNet top-1, detection, '
            'segmentation); here frozen features are probed (kNN, linear), '
            'which tracks the representation itself but not what '
            'fine-tuning recovers.')
    claims_md = ''
    if args.finetune or args.accel or args.contrastive:
        claims_md = '\n' + claims_section(args, results, flops, e_m, n,
                                           argv_seconds)
    md = f"""# Does TEC save compute? Fashion-MNIST, from a saturated MAE base, E' = {E2}

Question: once an MAE model has saturated, does spending further training
compute on TEC (a new model trained on the MAE model) give better frozen
features than spending it on more MAE? Seeds {seeds}, a base per seed;
kNN and linear probe on the 10,000-image test split.
{claims_md}
## Result

{missing_text}{verdict(results)}

{table}

Paired differences (percentage points, per seed: same seed, same base):

{diff_table}

![accuracy against training compute]({osp.basename(args.out_png)})

## The base's saturation

kNN top-1 (%) of the MAE base after each epoch. Criterion: over the last
quarter of its epochs (epoch {q} → {E}) kNN improves by less than
{SATURATION_POINTS} points. {sat_text}

{sat_table}

## Setup

- Data: Fashion-MNIST (Debian package), {'all ' if args.train_per_class is None else ''}{n} training images for
  pretraining (28x28, gray repeated to 3 channels; random resized crop
  40-100% of the area, flip). Evaluation: kNN bank / probe training set
  {len(args._bank)} train images ({args.bank_per_class or 'all'} per class,
  the first of each class: a fixed class-balanced subset, so that
  evaluating every epoch stays cheap), queries {len(args._query)} test
  images.
- Model: ViT width 64, depth 3, 2 heads, patch 7 (4x4 = 16 patches),
  75% masking (4 visible patches). MAE = MMPretrain's MAE (decoder 64-d x
  1, norm-pix loss; `projects/fashion_mnist/configs/{MAE_CONFIG}`); TEC =
  mmtec's TEC with
  the paper's components (masked new model with input adapter and encoder
  adapter, decoder 64-d x 1 with feature and attention branches, patch-
  normalised feature target of the base's last 2 layers, top-2 of 16
  patches attention target, tau 1.8;
  `projects/fashion_mnist/configs/{TEC_CONFIG}`).
- Schedule: AdamW lr 1.5e-3, betas (0.9, 0.95), weight decay 0.05, batch
  {args.batch_size}; every run warms up linearly over its first
  {WARMUP_FRACTION:.0%} of iterations, then cosine to 0 (a run that
  continues from the base restarts the schedule).
- Compute: training FLOPs counted with torch's `FlopCounterMode` on one
  forward + backward step (optimizer updates not counted): MAE
  {flops['mae'] / 1e6:.1f} MFLOPs per image, TEC {flops['tec'] / 1e6:.1f}
  MFLOPs per image (the frozen base's forward on the whole image
  included), ratio {ratio:.2f}. E' = {E2} TEC epoch(s); the MAE arms get E_m
  = {e_m} extra epochs, the whole number closest to the same FLOPs. One
  MAE epoch over {n} images = {mae_epoch_pf:.3g} PFLOPs. Cumulative
  compute includes the base's {E} epochs for (a), (b), (c).
- Evaluation: frozen mean-pooled features; weighted kNN (k={KNN_K}, cosine,
  T={KNN_TEMPERATURE}); linear probe = L2 logistic regression (L-BFGS) on standardised
  features, L2 chosen on 10% of the bank.
- Seeds {seeds}: mean ± sample std over seeds; paired differences are per
  seed.
- Machine: {device_name()}, {args.jobs} seed processes in parallel.
  Training time over all runs and seeds: {sum(sum(r['train_s'].values())
  for r in results):.0f} s. Wall time of the invocations that produced
  these records: {argv_seconds}. Date: {time.strftime('%Y-%m-%d')}.
- Command: `{command}`

## Why this is a fair miniature

- The same methods: MMPretrain's MAE and mmtec's TEC with all of the
  paper's components, trained with the same recipe shape (AdamW, warm-up
  then cosine, 75% masking), on the whole training set, not a subset.
- The regime the claim is about: the base is trained until its frozen
  features stop improving (criterion above), and every arm starts from that
  base or spends the same total compute.
- Compute is measured, not assumed: FLOPs of each method's training step
  are counted and the MAE arms get the FLOPs TEC spends, base included.
- The ViT is small so that saturation fits a 2-core CPU; 16 patches with
  a top-2 attention target keep ImageNet's proportions (top-15 of 196, 8%
  of the patches), and 4 visible patches keep MAE's masking task.
- Every model is evaluated the same way on frozen features{' and fine-tuned with one recipe' if args.finetune else ''}, and every
  comparison is paired within a seed (same base).

## What differs from the paper

- Scale: the paper pretrains ViT-B/16 (86M parameters, 196 patches) on
  ImageNet-1k (1.28M images) for 800-1600 MAE epochs and 100-800 TEC
  epochs on 8+ GPUs; here a 0.16M-parameter ViT with 16 patches on 60,000
  28x28 gray images for {E} + {E2} epochs on a CPU, {len(seeds)} seeds.
- Measure: {measure_text}
- Saturation: the paper's base saturates over hundreds of epochs; here
  the base's learning curve flattens within its own cosine schedule (its
  learning rate decays to 0 at epoch {E}), and the criterion above is the
  only evidence of saturation. Arm (a) restarts the schedule, arm (d)
  stretches it.
- Compute: the paper counts epochs; here arms are matched in counted
  training FLOPs, so TEC gets fewer epochs than the MAE arms.
"""
    from fmnist_lab import write_report
    return write_report(args.out_md, md)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    torch.set_num_threads(1)
    import mmtec  # noqa: F401
    from fmnist_lab import (
        TimeLimitReached,
        fashion_mnist_eval_sets,
        read_json,
        write_json,
    )

    flops = flops_per_image(args)
    e_m = mae_extra_epochs(args, flops)
    if args.contrastive:
        flops = dict(flops, moco=moco_flops_per_image(args))
        args._e_mc = moco_extra_epochs(args, flops)
    trains = not args.report_only
    stopped = False
    if args.jobs > 1 and len(args.seeds) > 1 and not (args.no_report or
                                                        args.report_only):
        stopped = run_seeds_in_parallel(args, argv)
    eval_sets = fashion_mnist_eval_sets(args.data_root, args.bank_per_class,
                                        args.test_per_class)
    args._bank, args._query = eval_sets[:2]
    args._eval_sets = eval_sets
    if not stopped:
        try:
            results = [run_seed(args, seed, eval_sets, e_m)
                       for seed in args.seeds]
        except TimeLimitReached:
            if args.no_report:
                raise
            stopped = True
    if stopped:  # report what has finished
        args.report_only = True
        results = [run_seed(args, seed, eval_sets, e_m)
                   for seed in args.seeds]
    if args.no_report:
        return results
    # the wall time of every invocation that trained (a study run in parts
    # under --hours has several)
    timing_path = osp.join(args.work_dir, 'wall.json')
    timing = wall_parts(read_json(timing_path))
    if trains:
        timing['parts'].append(dict(
            wall_s=time.time() - t_start,
            date=time.strftime('%Y-%m-%d %H:%M'),
            stopped_at_time_limit=stopped))
        write_json(timing_path, timing)
    results = [r for r in results if 'base' in r['arms']]
    if not results and stopped:
        print('[sustainability] time limit reached before a base model '
              'finished: no report yet; run the same command again to '
              'continue', flush=True)
        raise TimeLimitReached('the study')
    if not results:
        raise RuntimeError(f'no finished base model in {args.work_dir}: '
                           'run the study without --report-only first')
    arms = [a for a in ARMS if having(results, a)]
    wall = time.time() - t_start
    command = 'python ' + shlex.join(
        [osp.relpath(osp.abspath(__file__), ROOT)] +
        study_arguments(sys.argv[1:] if argv is None else argv))
    wall_text = wall_summary(timing)
    md = report(args, results, arms, flops, e_m, wall, command, wall_text)
    summary = {name: dict(
        knn_top1=mean_std([r['arms'][name]['knn_top1']
                           for r in having(results, name)]),
        linear_top1=mean_std([r['arms'][name]['linear_top1']
                              for r in having(results, name)]))
               for name in arms}
    write_json(osp.join(args.work_dir, 'sustainability.json'), dict(
        summary=summary, results=results, flops=flops, mae_extra_epochs=e_m,
        args={k: v for k, v in vars(args).items() if not k.startswith('_')},
        wall_s=sum(p['wall_s'] for p in timing['parts']),
        wall_parts=timing['parts'], command=command))
    print(md, flush=True)
    print(f'Wrote {args.out_md} and {args.out_png}')
    if stopped:
        print('[sustainability] time limit reached: the report shows what '
              'has finished; run the same command again to continue',
              flush=True)
        raise TimeLimitReached('the study')
    return summary


def study_arguments(argv):
    """The command line without --report-only and the time limit: the
    command that trains and reports the whole study."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ('--hours', '--stop-at'):
            skip = True
        elif arg != '--report-only' and not arg.startswith(
                ('--hours=', '--stop-at=')):
            out.append(arg)
    return out


def wall_parts(timing):
    """``wall.json``: the wall time of each invocation that trained."""
    if timing is None:
        return dict(parts=[])
    if 'parts' not in timing:  # one invocation, recorded before parts
        return dict(parts=[dict(wall_s=timing['wall_s'],
                                date=timing['date'],
                                stopped_at_time_limit=False)])
    return timing


def wall_summary(timing):
    parts = timing['parts']
    if not parts:
        return 'not recorded: the training invocation did not finish'
    total = sum(p['wall_s'] for p in parts)
    text = f'{total:.0f} s ({total / 3600:.2f} h'
    if len(parts) > 1:
        text += (f' in {len(parts)} invocations of at most '
                 f'{max(p["wall_s"] for p in parts) / 3600:.2f} h')
    return text + f', the last finished {parts[-1]["date"]} UTC)'


if __name__ == '__main__':
    main()
