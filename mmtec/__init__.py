"""mmtec: TEC pretraining on MMEngine and MMPretrain."""
from .version import __version__

__all__ = ['__version__']
