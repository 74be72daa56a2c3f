"""MMPretrain's Fashion-MNIST dataset fed from the locally installed files.

MMPretrain's :class:`~mmpretrain.datasets.FashionMNIST` downloads the IDX
files from the internet when they are missing and picks the split from
``test_mode`` only. This subclass never downloads: it unpacks the ``.gz``
files of Debian's ``dataset-fashion-mnist`` package into ``data_root``
once, honours ``split``, can return 3-channel images (so that models built
for RGB input and RGB checkpoints can be used unchanged) and can take a
class-balanced subset.
"""
import os.path as osp
from typing import Optional

import mmengine.dist as dist
import numpy as np
from mmpretrain.datasets import FashionMNIST

from mmtec.registry import DATASETS

from .fashion_mnist_files import (
    _FILES,
    find_fashion_mnist,
    read_idx,
    unpack_fashion_mnist,
)


@DATASETS.register_module()
class LocalFashionMNIST(FashionMNIST):
    """Fashion-MNIST read from the installed IDX files, never downloaded.

    When ``data_root`` lacks the unpacked IDX files, they are unpacked from
    ``source`` (Debian's ``/usr/share/datasets/fashion-mnist`` by default,
    or ``$MMTEC_FASHION_MNIST``). If neither has them a ``FileNotFoundError``
    tells how to install them (``apt-get install dataset-fashion-mnist``).

    Each sample is ``dict(img=uint8 array [28, 28] or [28, 28, 3],
    gt_label=int64)``, as in MMPretrain's ``FashionMNIST``.

    Args:
        data_root (str): Folder for the unpacked files; created if needed.
        split (str): ``'train'`` (60,000 images) or ``'test'`` (10,000).
            Unlike the parent class, the split alone selects the files.
            Defaults to 'train'.
        source (str, optional): Folder with the original (``.gz`` or
            unpacked) IDX files. Defaults to ``$MMTEC_FASHION_MNIST`` or
            ``/usr/share/datasets/fashion-mnist``.
        to_rgb (bool): Repeat the gray channel three times (``[28, 28, 3]``)
            so RGB models and pipelines apply unchanged. Defaults to True.
        num_per_class (int, optional): Keep only the first
            ``num_per_class`` images of every class (a deterministic,
            class-balanced subset). Defaults to None (all images).
        **kwargs: Other arguments of MMPretrain's ``BaseDataset``
            (``pipeline``, ``indices``, ``test_mode``, ...).
    """

    def __init__(self,
                 data_root: str = 'data/fashion_mnist',
                 split: str = 'train',
                 source: Optional[str] = None,
                 to_rgb: bool = True,
                 num_per_class: Optional[int] = None,
                 **kwargs):
        kwargs.pop('download', None)  # there is nothing to download from
        self.source = source
        self.to_rgb = to_rgb
        self.num_per_class = num_per_class
        if split == 'test':
            # the parent picks the files from test_mode; keep them in step
            kwargs.setdefault('test_mode', True)
        super().__init__(
            data_root=data_root, split=split, download=False, **kwargs)

    def load_data_list(self):
        """Unpack the files if needed and read the selected split."""
        root = self.data_prefix['root']
        if dist.is_main_process() and not self._check_exists():
            unpack_fashion_mnist(root, find_fashion_mnist(self.source))
        dist.barrier()
        image_file, label_file = _FILES[self.split]
        # copy: the parsed buffers are read-only, torch warns on those
        imgs = read_idx(osp.join(root, image_file)).copy()
        labels = read_idx(osp.join(root, label_file)).copy()
        keep = np.arange(len(labels))
        if self.num_per_class is not None:
            keep = np.sort(
                np.concatenate([
                    np.flatnonzero(labels == c)[:self.num_per_class]
                    for c in np.unique(labels)
                ]))
        # the gray images are stored once; channels are repeated per sample
        return [
            dict(img=imgs[i], gt_label=np.array(labels[i], dtype=np.int64))
            for i in keep
        ]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.to_rgb and info['img'].ndim == 2:
            info['img'] = np.repeat(info['img'][..., None], 3, axis=2)
        return info

    def extra_repr(self):
        return super().extra_repr() + [
            f'Split: \t{self.split}', f'Subset per class: \t'
            f'{self.num_per_class or "all"}'
        ]
