from .tec_target_generator import TECTargetGenerator

__all__ = ['TECTargetGenerator']
