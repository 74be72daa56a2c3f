"""Would Pillow's JPEG draft mode speed up the recipe's CPU pipeline?

Draft mode decodes a JPEG at 1/2, 1/4 or 1/8 scale in the DCT domain. It
keeps the recipe's output exact in size only where the random crop is at
least 2x (4x) the 224 px output on both sides. For synthetic JPEGs of two
sizes this prints the median decode time at full and 1/2 scale and the share
of the recipe's crops (scale 0.2-1.0, ratio 3/4-4/3) that would allow it.

Example:
    python tools/benchmarks/jpeg_draft_check.py
"""
import argparse
import io
import os.path as osp
import statistics
import sys
import time

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import numpy as np
import torch
from PIL import Image

from mmtec.models.utils import random_resized_crop_params


def synthetic_jpeg(width, height, rng):
    coarse = rng.integers(0, 256, (height // 25 + 1, width // 25 + 1, 3),
                          dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16) + rng.integers(
        -12, 13, (height, width, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(
        buf, 'JPEG', quality=90)
    return buf.getvalue()


def decode_ms(data, size=None, repeats=30):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        img = Image.open(io.BytesIO(data))
        if size:
            img.draft('RGB', size)
        img.load()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.parse_args()  # --help, nothing else
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    print('| image | KB | decode ms (full) | decode ms (draft 1/2) | crops '
          'allowing 1/2 | crops allowing 1/4 |')
    print('| --- | --- | --- | --- | --- | --- |')
    for w, h in [(500, 375), (1600, 1200)]:
        data = synthetic_jpeg(w, h, rng)
        sides = [min(random_resized_crop_params(h, w, (0.2, 1.0),
                                                (3 / 4, 4 / 3))[2:])
                 for _ in range(2000)]
        half = sum(s >= 448 for s in sides) / len(sides)
        quarter = sum(s >= 896 for s in sides) / len(sides)
        print(f'| {w}x{h} | {len(data) / 1e3:.0f} | {decode_ms(data):.2f} | '
              f'{decode_ms(data, (w // 2, h // 2)):.2f} | {100 * half:.1f}% '
              f'| {100 * quarter:.1f}% |')


if __name__ == '__main__':
    main()
