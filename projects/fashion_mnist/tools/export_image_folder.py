"""Lay Fashion-MNIST images out as an ImageNet-style folder of JPEG files.

``<dst>/<split>/<class>/<n>.JPEG`` is what MMPretrain's ``ImageNet`` and
``CustomDataset`` read, so the ImageNet recipes and the tiny test config
run on it. The images come from Debian's ``dataset-fashion-mnist`` files.

Example:
    python projects/fashion_mnist/tools/export_image_folder.py \
        work_dirs/fmnist_folder --per-class 2 --size 32
"""
import argparse
import os.path as osp
import sys

sys.path.append(osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..',
                         'tools'))
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from fmnist_lab import export_image_folder  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dst', help='output root')
    parser.add_argument('--split', choices=['train', 'test'],
                        default='train')
    parser.add_argument('--per-class', type=int, default=2,
                        help='images per class')
    parser.add_argument('--size', type=int, default=224,
                        help='side length of the resized images')
    args = parser.parse_args(argv)
    export_image_folder(args.dst, args.split, args.per_class, args.size)
    print(osp.join(args.dst, args.split))


if __name__ == '__main__':
    main()
