"""Data pipeline components (registered in MMPretrain's registries on
import)."""
from .seeded_sampler import SeededSampler  # noqa: F401
from .transforms import LoadImageOrSkip, PackJPEGBytes  # noqa: F401
