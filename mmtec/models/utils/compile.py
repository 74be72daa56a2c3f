"""Optional ``torch.compile`` of a submodule's forward computation."""
from typing import Callable, Union

import torch
from torch import nn


def maybe_compile(fn: Callable, compile_cfg: Union[bool, dict]) -> Callable:
    """``fn`` compiled with ``torch.compile(**compile_cfg)``, or ``fn``.

    Args:
        fn (Callable): The computation to compile.
        compile_cfg (bool | dict): False: no compilation; True: default
            options; a dict: keyword arguments of ``torch.compile`` (e.g.
            ``dict(mode='max-autotune')``).
    """
    if not compile_cfg:
        return fn
    kwargs = {} if compile_cfg is True else dict(compile_cfg)
    return torch.compile(fn, **kwargs)


def compiled_method(module: nn.Module, name: str,
                    compile_cfg: Union[bool, dict]) -> Callable:
    """``module.<name>``, compiled once on first use when configured.

    The compiled callable is cached on the instance but created lazily, so
    the module stays picklable/deep-copyable until it first runs, and moving
    it between devices before that costs nothing.
    """
    method = getattr(module, name)
    if not compile_cfg:
        return method
    key = f'_compiled_{name}'
    if key not in module.__dict__:
        module.__dict__[key] = maybe_compile(method, compile_cfg)
    return module.__dict__[key]
