from .trainable_params_constructor import (
    TrainableParamsOptimWrapperConstructor,
)

__all__ = ['TrainableParamsOptimWrapperConstructor']
