"""Write a randomly initialised ViT as a base model, in MAE's release layout.

For trying a recipe without downloading a pretrained base: the file holds
``{'model': <timm-style ViT weights>}`` like MAE's
``mae_pretrain_vit_base.pth`` and loads wherever a base model does
(``model.target_generator.checkpoint``). TEC learns nothing useful from
random targets; this is for checking that a configuration builds and
trains.

Example (the tiny test config: width 64, depth 3, 4 heads, patch 8):
    python tools/misc/make_random_base.py work_dirs/random_tiny_base.pth
    python tools/misc/make_random_base.py base_b.pth --arch b
"""
import argparse
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

# tools/ is run as a script: make the checkout's package importable
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

# the ViT of tests/data/tec_vit-tiny_test.py
TINY = dict(embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128)
# arch: (settings, image size, patch size)
ARCHS = dict(tiny=(TINY, 32, 8), s=('s', 224, 16), b=('b', 224, 16),
             l=('l', 224, 16), h=('h', 224, 14))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', help='the file to write (.pth)')
    parser.add_argument('--arch', default='tiny', choices=sorted(ARCHS),
                        help='ViT size: tiny (the tiny test config) or a '
                        'standard ViT-S/B/L/H (default: tiny)')
    parser.add_argument('--img-size', type=int,
                        help='image size of the position embedding '
                        '(default: 32 for tiny, else 224; other sizes are '
                        'interpolated on loading)')
    parser.add_argument('--patch-size', type=int,
                        help='patch size (default: 8 for tiny, 14 for h, '
                        'else 16); must match the config')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing file')
    return parser.parse_args(argv)


def random_base(arch: str = 'tiny', img_size: int = None,
                patch_size: int = None, seed: int = 0) -> dict:
    """A random ViT in MAE's release layout (``{'model': timm keys}``).

    Args:
        arch (str): A key of ``ARCHS``.
        img_size (int, optional): Image size. Defaults to the arch's.
        patch_size (int, optional): Patch size. Defaults to the arch's.
        seed (int): Seed of the initialisation.
    """
    import torch
    from mmpretrain.models.backbones import VisionTransformer

    from mmtec.converters import canonical_to_timm
    from mmtec.models.utils import resolve_arch
    settings, default_img, default_patch = ARCHS[arch]
    torch.manual_seed(seed)
    vit = VisionTransformer(
        arch=resolve_arch(settings), img_size=img_size or default_img,
        patch_size=patch_size or default_patch, final_norm=True)
    # Linear layers have torch's default random init; the tokens start at 0
    # (MMPretrain's init_weights would draw them too, with a log line per
    # tensor)
    with torch.no_grad():
        for token in (vit.cls_token, vit.pos_embed):
            torch.nn.init.trunc_normal_(token, std=0.02)
    return dict(model=canonical_to_timm(vit.state_dict()))


def main(argv=None):
    args = parse_args(argv)
    from mmtec.converters import save_converted
    checkpoint = random_base(args.arch, args.img_size, args.patch_size,
                             args.seed)
    try:
        save_converted(checkpoint, args.out, 'pth', overwrite=args.overwrite)
    except FileExistsError as err:
        sys.exit(f'error: {err}')
    print(f'wrote a random {args.arch} ViT ({len(checkpoint["model"])} '
          f'tensors, MAE release layout) to {args.out}')


if __name__ == '__main__':
    main()
