from .tec_decoder import TECDecoder

__all__ = ['TECDecoder']
