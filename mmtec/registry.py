"""mmtec registers its pretraining components in MMPretrain's registries."""
from mmpretrain.registry import (
                                 DATA_SAMPLERS,
                                 DATASETS,
                                 HOOKS,
                                 LOOPS,
                                 METRICS,
                                 MODELS,
                                 OPTIM_WRAPPER_CONSTRUCTORS,
                                 PARAM_SCHEDULERS,
                                 TRANSFORMS,
)

__all__ = [
    'MODELS', 'DATASETS', 'DATA_SAMPLERS', 'LOOPS', 'HOOKS', 'METRICS',
    'TRANSFORMS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS'
]
