"""mmtec registers its pretraining components in MMPretrain's registries."""
from mmpretrain.registry import (DATASETS, HOOKS, METRICS, MODELS,
                                 OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS,
                                 TRANSFORMS)

__all__ = [
    'MODELS', 'DATASETS', 'HOOKS', 'METRICS', 'TRANSFORMS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS'
]
