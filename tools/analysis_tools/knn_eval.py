"""Weighted kNN (and optional linear-probe) accuracy of a frozen ViT.

Works for any ViT checkpoint ``mmtec.converters.read_vit`` reads: mmtec
pretraining checkpoints, MMPretrain (incl. MAE), MAE/iBOT/DINO/DeiT/timm,
TEC released and raw. The data come from an MMPretrain dataset config: the
bank is ``train_dataloader.dataset`` (read with the test pipeline), the
queries are ``test_dataloader.dataset``, the normalisation is
``data_preprocessor``.

Protocol (DINO): cosine similarity, the k nearest bank features vote with
weight exp(sim / T) (``mmtec.evaluation.KNN_K``, ``KNN_TEMPERATURE``).

Examples:
    python tools/analysis_tools/knn_eval.py work_dirs/demo/tec/epoch_2.pth
    python tools/analysis_tools/knn_eval.py \
        checkpoints/tec_mae_vitb_800ep.pth \
        --config my_imagenet_subset_config.py --arch b --feature cls
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the default config is the Fashion-MNIST project's; its custom_imports name
# the project's package (fmnist_lab), which lives there
sys.path.insert(0, osp.join(ROOT, 'projects', 'fashion_mnist'))


def parse_args(argv=None):
    from mmtec.checkpoint import add_trust_argument
    from mmtec.evaluation import KNN_K, KNN_TEMPERATURE
    from mmtec.models.utils import BASE_ARCHS
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', nargs='+',
                        help='checkpoint file(s); "pixels" for raw pixels')
    parser.add_argument(
        '--config',
        default=osp.join(ROOT, 'projects', 'fashion_mnist', 'configs',
                         'fmnist_eval.py'),
        help='MMPretrain config with train_dataloader (bank), '
        'test_dataloader (queries) and data_preprocessor')
    parser.add_argument('--k', type=int, default=KNN_K)
    parser.add_argument('--temperature', type=float,
                        default=KNN_TEMPERATURE)
    parser.add_argument('--feature', choices=['cls', 'mean', 'cls+mean'],
                        default='mean',
                        help='class token, mean of patch tokens, or both')
    parser.add_argument('--linear', action='store_true',
                        help='also fit and test a linear probe')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (default: from --arch, else '
                        'the standard ViT size of the weights\' width and '
                        'depth, else width / 64)')
    parser.add_argument('--arch', choices=list(BASE_ARCHS),
                        help='ViT-S/B/L/H: sets the number of heads')
    parser.add_argument('--img-size', type=int,
                        help='evaluation input size (default: trained size)')
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='config overrides key=value, e.g. '
                        'test_dataloader.dataset.num_per_class=100')
    parser.add_argument(
        '--quick-gelu', action='store_true',
        help='the checkpoints\' MLPs use QuickGELU (OpenAI\'s CLIP models; '
        'an OpenCLIP file cannot tell it from LAION\'s GELU)')
    add_trust_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config, DictAction

    import mmtec  # noqa: F401  (safe loading of checkpoints)
    from mmtec.checkpoint import trust_checkpoint
    from mmtec.evaluation import build_eval_datasets, evaluate_checkpoint
    from mmtec.models.utils import BASE_ARCHS
    trust_checkpoint(args.trust_checkpoint)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        # reuse MMEngine's parser of key=value pairs
        opts = argparse.ArgumentParser()
        opts.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(opts.parse_args(['--o', *args.cfg_options]).o)
    bank, query, normalize = build_eval_datasets(cfg)
    num_heads = args.num_heads or (
        BASE_ARCHS[args.arch]['num_heads'] if args.arch else None)
    results = {}
    for ckpt in args.checkpoint:
        res = evaluate_checkpoint(
            None if ckpt == 'pixels' else ckpt, bank, query, normalize,
            feature=args.feature, k=args.k, temperature=args.temperature,
            linear=args.linear, num_heads=num_heads, img_size=args.img_size,
            quick_gelu=args.quick_gelu,
            batch_size=args.batch_size, device=args.device,
            name=osp.basename(ckpt))
        results[ckpt] = res
        line = (f'{ckpt}: kNN (k={args.k}, T={args.temperature}) top-1 '
                f'{res["knn_top1"]:.2f}')
        if 'knn_top5' in res:
            line += f' top-5 {res["knn_top5"]:.2f}'
        if args.linear:
            line += f' | linear top-1 {res["linear_top1"]:.2f}'
        line += (f' | bank {res["bank_size"]}, test {res["test_size"]}, '
                 f'{res["feature"]} features ({res["feature_dims"]}-d), '
                 f'{res["eval_s"]:.0f} s')
        print(line, flush=True)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    sys.exit(main() and 0)
