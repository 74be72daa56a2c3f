"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package.

The package installs the four original ``*-idx?-ubyte.gz`` files; these
helpers read them without network access and can lay a subset out as an
ImageNet-style folder (``<root>/<split>/<class>/<n>.JPEG``), which is the
format MMPretrain's ``ImageNet``/``CustomDataset`` reads.
"""
import gzip
import os
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from mmtec.checkpoint import write_atomically

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
CLASSES = ('T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle_boot')
_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def find_fashion_mnist(root: Optional[str] = None) -> str:
    """Return the folder holding the Fashion-MNIST files."""
    root = root or os.environ.get('MMTEC_FASHION_MNIST', DEBIAN_DIR)
    if not osp.isfile(osp.join(root, 'train-images-idx3-ubyte.gz')) and \
            not osp.isfile(osp.join(root, 'train-images-idx3-ubyte')):
        raise FileNotFoundError(
            f'Fashion-MNIST files not found in {root}. Install them with '
            '`apt-get install dataset-fashion-mnist` (tools/install.sh does '
            'this) or set MMTEC_FASHION_MNIST to a folder with the idx files.')
    return root


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a numpy array."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    return np.frombuffer(
        data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(split: str = 'train',
                       root: Optional[str] = None
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` of a split."""
    root = find_fashion_mnist(root)
    out = []
    for name in _FILES[split]:
        path = osp.join(root, name)
        out.append(read_idx(path if osp.isfile(path) else path + '.gz'))
    return out[0], out[1]


def unpack_fashion_mnist(dst: str, root: Optional[str] = None) -> str:
    """Write the unpacked IDX files MMPretrain's ``FashionMNIST`` expects."""
    root = find_fashion_mnist(root)
    os.makedirs(dst, exist_ok=True)
    for names in _FILES.values():
        for name in names:
            target = osp.join(dst, name)
            if osp.isfile(target):
                continue
            src = osp.join(root, name)
            if osp.isfile(src):
                data = open(src, 'rb').read()
            else:
                with gzip.open(src + '.gz', 'rb') as f:
                    data = f.read()
            write_atomically(target, data)
    return dst


def export_image_folder(dst: str,
                        split: str = 'train',
                        per_class: int = 2,
                        size: int = 224,
                        root: Optional[str] = None) -> str:
    """Lay out ``per_class`` images of each class as RGB JPEG files.

    Args:
        dst (str): Output root; images go to ``dst/<split>/<class>/``.
        split (str): 'train' or 'test'. Defaults to 'train'.
        per_class (int): Images per class. Defaults to 2.
        size (int): Output side length (bicubic resize). Defaults to 224.
        root (str, optional): Folder of the IDX files.

    Returns:
        str: ``dst``.
    """
    from PIL import Image
    images, labels = load_fashion_mnist(split, root)
    for cls_id, name in enumerate(CLASSES):
        folder = osp.join(dst, split, name)
        os.makedirs(folder, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(labels == cls_id)[:per_class]):
            img = Image.fromarray(images[idx]).convert('RGB')
            img.resize((size, size), Image.BICUBIC).save(
                osp.join(folder, f'{i:05d}.JPEG'), quality=95)
    return dst
