"""Class-token attention maps of ViT checkpoints, side by side, as a PNG.

Like figure 2 of the TEC paper: for every image, the last block's attention
of the class token to the patches, averaged over heads (overlaid on the
image) and per head, for a base model and a TEC model (or any number of
checkpoints in any layout ``mmtec.converters.read_vit`` reads).

Examples:
    # the demo's models, on Fashion-MNIST test images
    python tools/visualization/attention_maps.py \
        work_dirs/demo/mae/epoch_6.pth work_dirs/demo/tec/epoch_2.pth \
        --names MAE TEC \
        --out projects/fashion_mnist/docs/attention_maps_demo.png
    # ViT-B checkpoints at 224 on your own photos
    python tools/visualization/attention_maps.py \
        checkpoints/mae_pretrain_vit_base.pth \
        checkpoints/tec_mae_vitb_800ep.pth --names MAE TEC --arch b \
        --images a.jpg b.jpg --out attn.png
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import numpy as np
import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

FMNIST_STATS = ([72.94] * 3, [90.02] * 3)
IMAGENET_STATS = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])


def parse_args(argv=None):
    from mmtec.checkpoint import add_trust_argument
    from mmtec.models.utils import BASE_ARCHS
    parser = argparse.ArgumentParser(
        description='Plot class-token attention maps of ViT checkpoints')
    parser.add_argument('checkpoints', nargs='+',
                        help='checkpoint files (e.g. a base and a TEC model)')
    parser.add_argument('--names', nargs='+', help='column titles')
    parser.add_argument('--out', default='attention_maps.png')
    parser.add_argument('--images', nargs='+',
                        help='image files (default: Fashion-MNIST test '
                        'images, one per class)')
    parser.add_argument('--num-images', type=int, default=6,
                        help='Fashion-MNIST images when --images is not given')
    parser.add_argument('--img-size', type=int,
                        help='input size (default: the size the first '
                        'checkpoint was trained at, from its weights)')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (not stored in weights; '
                        'default: from --arch, else the standard ViT size of '
                        'the weights\' width and depth, else width / 64)')
    parser.add_argument('--arch', choices=list(BASE_ARCHS),
                        help='ViT-S/B/L/H: sets the number of heads')
    parser.add_argument('--layer', type=int, default=-1,
                        help='block whose attention is shown (default last)')
    parser.add_argument('--max-heads', type=int, default=None,
                        help='show at most this many heads per model '
                        '(0: the head average only)')
    parser.add_argument('--norm', choices=['auto', 'fmnist', 'imagenet'],
                        default='auto',
                        help='input normalisation; auto: Fashion-MNIST '
                        'statistics for Fashion-MNIST images at <= 32 px, '
                        'ImageNet statistics otherwise')
    parser.add_argument('--cell', type=int, default=96,
                        help='pixels per grid cell')
    parser.add_argument(
        '--quick-gelu', action='store_true',
        help='the checkpoints\' MLPs use QuickGELU (OpenAI\'s CLIP models; '
        'an OpenCLIP file cannot tell it from LAION\'s GELU)')
    add_trust_argument(parser)
    return parser.parse_args(argv)


def load_images(args, size: int) -> (np.ndarray, List[str], bool):
    """uint8 ``[N, size, size, 3]`` images, their labels, fmnist or not."""
    from PIL import Image
    if args.images:
        imgs, labels = [], []
        for path in args.images:
            img = Image.open(path).convert('RGB').resize((size, size),
                                                         Image.BICUBIC)
            imgs.append(np.asarray(img))
            labels.append(osp.splitext(osp.basename(path))[0])
        return np.stack(imgs), labels, False
    # the Fashion-MNIST project's package reads the installed IDX files
    sys.path.insert(0, osp.join(ROOT, 'projects', 'fashion_mnist'))
    from fmnist_lab import CLASSES, load_fashion_mnist
    images, targets = load_fashion_mnist('test')
    picks = [int(np.flatnonzero(targets == c % 10)[c // 10])
             for c in range(args.num_images)]
    imgs = []
    for i in picks:
        img = Image.fromarray(images[i]).convert('RGB')
        if size != img.size[0]:
            img = img.resize((size, size), Image.BICUBIC)
        imgs.append(np.asarray(img))
    return np.stack(imgs), [CLASSES[targets[i]] for i in picks], True


@torch.no_grad()
def attention_grid(models, imgs: np.ndarray, mean, std,
                   layer: int) -> List[torch.Tensor]:
    """Per model ``[N, H, h, w]`` class-token attention maps."""
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    return [m.cls_attention(x, layer) for m in models]


def _norm01(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo + 1e-12)


def plot_grid(imgs: np.ndarray, labels: List[str], maps: List[torch.Tensor],
              names: List[str], out: str, cell: int = 96,
              max_heads: Optional[int] = None) -> tuple:
    """Save the grid; returns its ``(width, height)`` in pixels.

    Rows are images; per model the columns are the head-averaged map
    (overlaid on the image) and then the heads. The PNG is exactly
    ``(1 + sum_models(1 + heads)) * cell`` wide and
    ``rows * cell + header`` high, ``header = cell // 2``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    heads = [m.shape[1] if max_heads is None else min(max_heads, m.shape[1])
             for m in maps]
    ncols = 1 + sum(1 + h for h in heads)
    nrows = len(imgs)
    header = cell // 2
    width, height = ncols * cell, nrows * cell + header
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    size = imgs.shape[1]
    fontsize = max(5, min(10, cell // 10))

    def axes(row, col):
        ax = fig.add_axes([
            col * cell / width, 1 - (header + (row + 1) * cell) / height,
            cell / width, cell / height
        ])
        ax.set_axis_off()
        return ax

    def up(a):  # patch grid -> image size, for display
        t = torch.as_tensor(a)[None, None].float()
        return F.interpolate(t, size=(size, size), mode='bilinear',
                             align_corners=False)[0, 0].numpy()

    fig.text(0.5 * cell / width, 1 - 0.7 * header / height, 'image',
             ha='center', fontsize=fontsize)
    col = 1
    for name, m, nh in zip(names, maps, heads):
        fig.text((col + (1 + nh) / 2) * cell / width,
                 1 - 0.35 * header / height, name, ha='center',
                 fontsize=fontsize + 1, weight='bold')
        for j, title in enumerate(['mean'] + [f'h{h + 1}'
                                              for h in range(nh)]):
            fig.text((col + j + 0.5) * cell / width,
                     1 - 0.85 * header / height, title, ha='center',
                     fontsize=fontsize)
        for r in range(nrows):
            mean_map = _norm01(up(m[r].mean(0).numpy()))
            ax = axes(r, col)
            ax.imshow(imgs[r].mean(-1), cmap='gray', vmin=0, vmax=255)
            ax.imshow(mean_map, cmap='jet', alpha=0.5)
            for h in range(nh):
                axes(r, col + 1 + h).imshow(
                    _norm01(up(m[r, h].numpy())), cmap='inferno')
        col += 1 + nh
    for r in range(nrows):
        ax = axes(r, 0)
        ax.imshow(imgs[r])
        ax.text(0.02, 0.02, labels[r], color='white', transform=ax.transAxes,
                fontsize=max(4, fontsize - 3), va='bottom',
                bbox=dict(facecolor='black', alpha=0.6, pad=1,
                          edgecolor='none'))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return width, height


def main(argv=None):
    args = parse_args(argv)
    import mmtec  # noqa: F401  (safe checkpoint loading)
    from mmtec.checkpoint import trust_checkpoint
    from mmtec.evaluation import load_frozen_vit
    from mmtec.models.utils import BASE_ARCHS
    trust_checkpoint(args.trust_checkpoint)
    num_heads = args.num_heads or (
        BASE_ARCHS[args.arch]['num_heads'] if args.arch else None)
    models = [load_frozen_vit(c, num_heads, args.img_size, args.quick_gelu)
              for c in args.checkpoints]
    names = args.names or [osp.splitext(osp.basename(c))[0]
                           for c in args.checkpoints]
    if len(names) != len(models):
        raise ValueError('--names needs one name per checkpoint')
    size = models[0].info['img_size']
    imgs, labels, fmnist = load_images(args, size)
    norm = args.norm
    if norm == 'auto':
        norm = 'fmnist' if fmnist and size <= 32 else 'imagenet'
    mean, std = FMNIST_STATS if norm == 'fmnist' else IMAGENET_STATS
    maps = attention_grid(models, imgs, mean, std, args.layer)
    w, h = plot_grid(imgs, labels, maps, names, args.out, args.cell,
                     args.max_heads)
    heads = ', '.join(f'{n}: {m.num_heads} heads'
                      for n, m in zip(names, models))
    print(f'Saved {args.out} ({w}x{h} px; {len(imgs)} images, {heads})')
    return args.out, (w, h)


if __name__ == '__main__':
    main()
