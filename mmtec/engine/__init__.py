"""Training-loop components registered in MMPretrain's registries."""
from .hooks import *  # noqa: F401,F403
from .lr_schedule import CosineToTrainEndLR, WarmupCosineLR, warmup_cosine_lr  # noqa: F401
from .resumable_epoch_loop import ResumableEpochBasedTrainLoop  # noqa: F401
from .resumable_iter_loop import ResumableIterBasedTrainLoop  # noqa: F401
from .trainable_params_constructor import (  # noqa: F401
    TrainableParamsOptimWrapperConstructor,
)
