"""Write a folder of synthetic ImageNet-sized JPEGs for end-to-end timing.

The images are smooth random colour fields with fine noise, 500 x 375 (the
typical ImageNet size), JPEG quality 90: about 60 KB a file (ImageNet's
average is about 110 KB), so decoding costs roughly what real photos cost;
the average size is printed.
Layout: ``<out>/train/class0/img_00000.JPEG`` ...

Example:
    python tools/benchmarks/make_jpeg_folder.py data/synthetic_jpegs -n 2048
"""
import argparse
import os
import os.path as osp
import sys
from multiprocessing import Pool

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import numpy as np
from PIL import Image


def write_one(args):
    path, seed, width, height = args
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 25 + 1, width // 25 + 1, 3),
                          dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16)
    arr = arr + rng.integers(-12, 13, arr.shape, dtype=np.int16)
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out')
    parser.add_argument('-n', type=int, default=256)
    parser.add_argument('--classes', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=(500, 375))
    parser.add_argument('--procs', type=int, default=os.cpu_count())
    args = parser.parse_args()
    jobs = []
    for i in range(args.n):
        folder = osp.join(args.out, 'train', f'class{i % args.classes}')
        os.makedirs(folder, exist_ok=True)
        jobs.append((osp.join(folder, f'img_{i:05d}.JPEG'), i, *args.size))
    with Pool(args.procs) as pool:
        pool.map(write_one, jobs, chunksize=16)
    total = sum(osp.getsize(j[0]) for j in jobs)
    print(f'{args.n} JPEGs in {args.out}/train, {total / args.n / 1e3:.0f} '
          'KB on average')


if __name__ == '__main__':
    main()
