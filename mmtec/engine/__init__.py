"""Training-loop components registered in MMPretrain's registries."""
from .hooks import *  # noqa: F401,F403
from .lr_schedule import CosineToTrainEndLR, WarmupCosineLR, warmup_cosine_lr  # noqa: F401
from .resumable_loops import (  # noqa: F401
    ResumableEpochBasedTrainLoop,
    ResumableIterBasedTrainLoop,
)
from .trainable_params_constructor import (  # noqa: F401
    TrainableParamsOptimWrapperConstructor,
)
