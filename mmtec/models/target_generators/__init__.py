from .tec_target_generator import BASE_ARCHS, TECTargetGenerator, resolve_arch

__all__ = ['TECTargetGenerator', 'BASE_ARCHS', 'resolve_arch']
