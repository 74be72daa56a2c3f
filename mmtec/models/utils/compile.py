"""Optional ``torch.compile`` of a submodule's forward computation."""
from typing import Callable, Union

import torch
from torch import nn


def compiled_method(module: nn.Module, name: str,
                    compile_cfg: Union[bool, dict]) -> Callable:
    """``module.<name>``, compiled once on first use when configured.

    The compiled callable is cached on the instance but created lazily, so
    the module stays picklable/deep-copyable until it first runs, and moving
    it between devices before that costs nothing.

    Args:
        module (nn.Module): The method's owner.
        name (str): The method's name.
        compile_cfg (bool | dict): False: no compilation; True: default
            options; a dict: keyword arguments of ``torch.compile`` (e.g.
            ``dict(mode='max-autotune')``).
    """
    method = getattr(module, name)
    if not compile_cfg:
        return method
    key = f'_compiled_{name}'
    if key not in module.__dict__:
        kwargs = {} if compile_cfg is True else dict(compile_cfg)
        module.__dict__[key] = torch.compile(method, **kwargs)
    return module.__dict__[key]
