"""Data helpers."""
from .fashion_mnist_files import (CLASSES, export_image_folder,
                                  find_fashion_mnist, load_fashion_mnist,
                                  unpack_fashion_mnist)

__all__ = [
    'CLASSES', 'export_image_folder', 'find_fashion_mnist',
    'load_fashion_mnist', 'unpack_fashion_mnist'
]
