"""Read an image file's encoded bytes only, for decoding on the GPU."""
import logging
from typing import List, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmpretrain.structures import DataSample

from mmtec.registry import TRANSFORMS

from .transforms.load_image_or_skip import (
    SKIPPED_KEY,
    check_max_pixels,
    header_problem,
)


@TRANSFORMS.register_module()
class PackJPEGBytes(BaseTransform):
    """Pack the still-encoded file bytes as the sample's input.

    The CPU side of the GPU-decode data path (``GPUJPEGDataPreprocessor``
    decodes, crops, flips and normalises on the device); use with
    ``collate_fn=dict(type='pseudo_collate')``. As
    :class:`~mmtec.datasets.LoadImageOrSkip` does on the CPU path, a file
    whose header is not a JPEG's or declares more than ``max_pixels`` (the
    batched decoder would stop on it, or allocate gigabytes on the device)
    is skipped with a warning, another image is drawn in its place and the
    skipped paths ride on that image's data sample (``skipped_images``).
    Returns ``inputs`` (1-D uint8 tensor) and ``data_samples``.

    Args:
        max_pixels (int, optional): Largest width x height accepted;
            ``None`` turns the size limit off (PIL's own, twice
            ``PIL.Image.MAX_IMAGE_PIXELS``, still applies). Defaults to
            100_000_000.
    """

    def __init__(self, max_pixels: Optional[int] = 100_000_000):
        check_max_pixels(type(self).__name__, max_pixels)
        self.max_pixels = max_pixels
        self._skipped: List[str] = []

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        with open(path, 'rb') as f:
            data = f.read()
        reason = header_problem(data, self.max_pixels, formats=('JPEG', ))
        if reason is not None:
            print_log(f'Skipping {path}: {reason}; another image is drawn '
                      'in its place.', logger='current',
                      level=logging.WARNING)
            self._skipped.append(str(path))
            return None
        sample = DataSample()
        if self._skipped:
            sample.set_metainfo({SKIPPED_KEY: self._skipped})
            self._skipped = []
        return dict(
            inputs=torch.from_numpy(np.frombuffer(data, np.uint8).copy()),
            data_samples=sample)
