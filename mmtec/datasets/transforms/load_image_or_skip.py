"""Image reading that skips an undecodable or oversized file instead of
stopping: decoded on the CPU, or packed as bytes for decoding on the GPU."""
import io
import logging
import os.path as osp
import warnings
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.structures import DataSample
from PIL import Image

from mmtec.registry import TRANSFORMS

SKIPPED_KEY = 'skipped_images'


def header_problem(data: bytes,
                   max_pixels: Optional[int],
                   formats: Optional[Sequence[str]] = None) -> Optional[str]:
    """Why the header rules the image out before decoding, or ``None``
    (``PIL.Image.open`` reads the header only: microseconds).

    Args:
        data (bytes): The encoded file.
        max_pixels (int, optional): Largest width x height; ``None``: no
            limit (PIL's own, twice ``Image.MAX_IMAGE_PIXELS``, still
            applies when ``formats`` is given).
        formats (Sequence[str], optional): PIL format names the decoder
            reads; another or unknown format is a problem. ``None``: any
            format, and an unknown one is left to the decoder.
    """
    if max_pixels is None and formats is None:
        return None
    with warnings.catch_warnings():
        # PIL warns above MAX_IMAGE_PIXELS; the limit here is max_pixels
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError as err:
            return str(err)  # PIL refuses to even open it
        except Exception:  # unknown or broken header
            return None if formats is None else \
                f'its header is not one of {list(formats)}'
    if formats is not None and fmt not in formats:
        return f'its header says {fmt}, not one of {list(formats)}'
    if max_pixels is not None and width * height > max_pixels:
        return (f'its header declares {width}x{height} = {width * height} '
                f'pixels, more than max_pixels={max_pixels}')
    return None


class _Skipping:
    """Skip an image with a warning; hand its path to the next image."""

    def _start_skipping(self, max_pixels: Optional[int]) -> None:
        if max_pixels is not None and not max_pixels > 0:
            raise ValueError(f'{type(self).__name__}: max_pixels must be > 0 '
                             f'or None (no limit), got {max_pixels!r}')
        self.max_pixels = max_pixels
        self._skipped: List[str] = []

    def _skip(self, path, reason: str) -> None:
        print_log(f'Skipping {reason}; another image is drawn in its place.',
                  logger='current', level=logging.WARNING)
        self._skipped.append(str(path))

    def _take_skipped(self) -> List[str]:
        skipped, self._skipped = self._skipped, []
        return skipped


@TRANSFORMS.register_module()
class LoadImageOrSkip(_Skipping, LoadImageFromFile):
    """``LoadImageFromFile`` that skips an image it cannot decode.

    mmcv's loader stops the run on one bad file with a bare
    ``AssertionError``. This one logs a warning naming the file and returns
    ``None``: MMEngine's ``BaseDataset`` draws another image in its place.
    The paths skipped before that image go in ``results['skipped_images']``
    (with ``PackInputs(algorithm_keys=['skipped_images'])`` they reach the
    data samples, where :class:`SkippedImagesHook` counts them and stops
    the run above a bad fraction).

    An image whose header declares more than ``max_pixels`` is skipped the
    same way before it is decoded: a 124 KB PNG can declare 32000 x 32000
    pixels, which OpenCV decodes into a 3 GB array. PIL reads the header
    only; a format PIL does not know is left to the decoder. A missing file
    is not skipped: the dataset changed since its file list was read.

    Args:
        max_pixels (int, optional): Largest width x height accepted; ``None``
            turns the check off. Defaults to 100_000_000 (100 MP, above any
            camera photo). Headers above twice ``PIL.Image.MAX_IMAGE_PIXELS``
            (179 MP by default) are skipped whatever this says, since PIL
            refuses to open them.
        **kwargs: The arguments of :class:`mmcv.transforms.LoadImageFromFile`
            (``color_type``, ``imdecode_backend``, ``backend_args``, ...).
    """

    def __init__(self, max_pixels: Optional[int] = 100_000_000, **kwargs):
        super().__init__(**kwargs)
        self._start_skipping(max_pixels)

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            return fileio.FileClient.infer_client(
                self.file_client_args, filename).get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def _load(self, results: dict) -> Optional[str]:
        """Decode into ``results``; return why the image is skipped, if so."""
        filename = results['img_path']
        data = self._read(filename)
        reason = header_problem(data, self.max_pixels)
        if reason is not None:
            return f'oversized image {filename}: {reason}'
        img = mmcv.imfrombytes(
            data, flag=self.color_type, backend=self.imdecode_backend)
        if img is None:
            raise ValueError('the decoder returned no image')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return None

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            reason = self._load(results)
        except Exception as err:  # mmcv/cv2/PIL raise many types
            if isinstance(filename, str) and not osp.exists(filename):
                raise FileNotFoundError(
                    f'Image {filename} does not exist (the data folder '
                    'changed while training?).') from err
            reason = f'undecodable image {filename} ({type(err).__name__}: ' \
                f'{err})'
        if reason is not None:
            return self._skip(filename, reason)
        if self._skipped:
            results[SKIPPED_KEY] = self._take_skipped()
        return results


@TRANSFORMS.register_module()
class PackJPEGBytes(_Skipping, BaseTransform):
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
        self._start_skipping(max_pixels)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        with open(path, 'rb') as f:
            data = f.read()
        reason = header_problem(data, self.max_pixels, formats=('JPEG', ))
        if reason is not None:
            return self._skip(path, f'{path}: {reason}')
        sample = DataSample()
        if self._skipped:
            sample.set_metainfo({SKIPPED_KEY: self._take_skipped()})
        return dict(
            inputs=torch.from_numpy(np.frombuffer(data, np.uint8).copy()),
            data_samples=sample)
