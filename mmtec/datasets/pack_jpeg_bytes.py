"""Read an image file's encoded bytes only, for decoding on the GPU."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from mmtec.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackJPEGBytes(BaseTransform):
    """Pack the still-encoded file bytes as the sample's input.

    The whole CPU side of the GPU-decode data path
    (``GPUJPEGDataPreprocessor`` decodes, crops, flips and normalises on the
    device): a dataloader worker only reads the file. Use with
    ``collate_fn=dict(type='pseudo_collate')`` (files differ in length).

    Required keys: ``img_path``. Returns ``inputs`` (1-D uint8 tensor) and
    ``data_samples``.
    """

    def transform(self, results: dict) -> dict:
        with open(results['img_path'], 'rb') as f:
            data = np.frombuffer(f.read(), dtype=np.uint8)
        return dict(inputs=torch.from_numpy(data.copy()),
                    data_samples=DataSample())
