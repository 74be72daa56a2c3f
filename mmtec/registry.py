"""mmtec registers its pretraining components in MMPretrain's registries."""
from mmpretrain.registry import (  # noqa: F401
    DATA_SAMPLERS,
    DATASETS,
    HOOKS,
    LOOPS,
    MODELS,
    OPTIM_WRAPPER_CONSTRUCTORS,
    PARAM_SCHEDULERS,
    TRANSFORMS,
)
