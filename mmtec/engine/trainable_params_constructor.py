"""An optimizer constructor that leaves frozen parameters out."""
from typing import List

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmtec.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMEngine's default constructor, minus parameters that need no grad
    (TEC's frozen base model), so that the optimizer state matches what is
    trained. Weight-decay rules (``paramwise_cfg``) are the default's.

    Args:
        optim_wrapper_cfg (dict): As for ``DefaultOptimWrapperConstructor``.
        paramwise_cfg (dict, optional): As for
            ``DefaultOptimWrapperConstructor``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        # a non-empty paramwise_cfg makes the parent build parameter groups
        # through add_params, which is where frozen parameters are left out
        super().__init__(optim_wrapper_cfg, paramwise_cfg or
                         dict(custom_keys={}))

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', is_dcn_module=None) -> None:
        if not any(p.requires_grad for p in module.parameters()):
            return  # a frozen subtree (the base model) contributes nothing
        groups: List[dict] = []
        super().add_params(groups, module, prefix, is_dcn_module)
        params.extend(g for g in groups if g['params'][0].requires_grad)
