"""Decode and augment JPEGs on the GPU, with the recipe's augmentation."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms import RandomResizedCrop

from mmtec.registry import MODELS


def random_resized_crop_params(height: int, width: int,
                               scale: Tuple[float, float],
                               ratio: Tuple[float, float]
                               ) -> Tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop of a ``height`` x ``width``
    image, drawn by torchvision's ``RandomResizedCrop.get_params``: up to 10
    tries of an area fraction in ``scale`` and a log-uniform aspect ratio
    in ``ratio``, else the largest centred crop, its ratio clipped."""
    return tuple(RandomResizedCrop.get_params(
        torch.empty(0, height, width), list(scale), list(ratio)))


@MODELS.register_module()
class GPUJPEGDataPreprocessor(SelfSupDataPreprocessor):
    """JPEG decode + RandomResizedCrop + flip + normalise on the device.

    Decodes the files packed by ``PackJPEGBytes`` in one batched
    ``decode_jpeg`` call on the model's device (nvJPEG; a CPU for tests),
    then per image: the recipe's random crop, bicubic antialiased resize
    (as Pillow), a flip, RGB normalisation. Tensor batches go to the parent.

    Args:
        crop_size (int): Output side. Defaults to 224.
        scale (tuple): Crop area range. Defaults to (0.2, 1.0).
        ratio (tuple): Crop aspect-ratio range. Defaults to (3/4, 4/3).
        flip_prob (float): Horizontal flip probability. Defaults to 0.5.
        mean (Sequence[float]): RGB mean. Defaults to ImageNet's.
        std (Sequence[float]): RGB std. Defaults to ImageNet's.
    """

    def __init__(self,
                 crop_size: int = 224,
                 scale: Tuple[float, float] = (0.2, 1.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 flip_prob: float = 0.5,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 **kwargs):
        kwargs.pop('to_rgb', None)  # decoded images are RGB already
        super().__init__(mean=mean, std=std, to_rgb=False, **kwargs)
        self.crop_size = crop_size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip_prob = flip_prob

    def augment(self, img: torch.Tensor) -> torch.Tensor:
        """One decoded ``[3, H, W]`` uint8 image -> ``[3, S, S]`` float."""
        top, left, h, w = random_resized_crop_params(
            img.shape[1], img.shape[2], self.scale, self.ratio)
        crop = img[None, :, top:top + h, left:left + w].float()
        out = F.interpolate(crop, size=(self.crop_size, self.crop_size),
                            mode='bicubic', align_corners=False,
                            antialias=True)[0].clamp_(0, 255)
        if torch.rand(1).item() < self.flip_prob:
            out = out.flip(-1)
        return out

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor) or not (
                isinstance(inputs, (list, tuple)) and inputs
                and inputs[0].dtype == torch.uint8 and inputs[0].dim() == 1):
            return super().forward(data, training)
        device = self.mean.device
        images = decode_jpeg([x.cpu() for x in inputs],
                             mode=ImageReadMode.RGB, device=device)
        batch = torch.stack([self.augment(img) for img in images])
        batch = (batch - self.mean) / self.std
        return dict(inputs=batch, data_samples=data.get('data_samples'))
