from .tec import TEC

__all__ = ['TEC']
