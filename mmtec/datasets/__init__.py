"""Data pipeline components (registered in MMPretrain's registries on
import)."""
from .pack_jpeg_bytes import PackJPEGBytes
from .seeded_sampler import SeededSampler
from .transforms import LoadImageOrSkip

__all__ = ['LoadImageOrSkip', 'PackJPEGBytes', 'SeededSampler']
