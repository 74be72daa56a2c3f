"""TEC on a laptop: one command, CPU, Fashion-MNIST from the local disk.

MAE, then TEC on it, pretrained on Fashion-MNIST and compared on frozen
features; the code lives in projects/fashion_mnist (see its README.md).

Example:
    python tools/demo.py                     # ~10 min on 2 CPU cores
    python tools/demo.py --scale tiny        # seconds, a smoke test
"""
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.abspath(__file__)))  # tools/, when imported
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'projects',
                'fashion_mnist'))
from fmnist_lab.demo import main  # noqa: E402

if __name__ == '__main__':
    main()
