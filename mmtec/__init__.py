"""mmtec: TEC pretraining on MMEngine and MMPretrain.

Importing this package registers its components in MMPretrain's registries
and makes MMEngine read checkpoints (``load_from``, ``--resume``,
``Pretrained`` init) through :func:`mmtec.checkpoint.safe_load`.
"""
from . import datasets, engine, models  # noqa: F401,E402  (registration)
from .checkpoint import register_safe_schemes
from .model_zoo import register_tec_models  # noqa: E402
from .version import __version__

register_safe_schemes()
register_tec_models()

__all__ = ['__version__']
