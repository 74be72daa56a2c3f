"""Data helpers."""
from .fashion_mnist_files import (CLASSES, export_image_folder,
                                  find_fashion_mnist, load_fashion_mnist,
                                  unpack_fashion_mnist)

__all__ = [
    'CLASSES', 'export_image_folder', 'find_fashion_mnist',
    'load_fashion_mnist', 'unpack_fashion_mnist'
]

# registered dataset classes (appended: importing mmtec.datasets registers
# them in MMPretrain's DATASETS registry)
from .fashion_mnist import LocalFashionMNIST  # noqa: E402

__all__ += ['LocalFashionMNIST']
from .transforms import LoadImageOrSkip  # noqa: E402

__all__ += ['LoadImageOrSkip']
from .pack_jpeg_bytes import PackJPEGBytes  # noqa: E402

__all__ += ['PackJPEGBytes']
from .seeded_sampler import SeededSampler  # noqa: E402

__all__ += ['SeededSampler']
