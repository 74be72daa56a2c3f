"""Speed switches: ``torch.compile`` of a submodule's computation, and
whether this machine computes in bfloat16 natively."""
import platform
from typing import Callable, Union

import torch
from torch import nn


def compiled_method(module: nn.Module, name: str,
                    compile_cfg: Union[bool, dict]) -> Callable:
    """``module.<name>``, compiled once on first use when configured:
    cached on the instance but created lazily, so the module stays
    picklable and cheap to move until it first runs.

    Args:
        module (nn.Module): The method's owner.
        name (str): The method's name.
        compile_cfg (bool | dict): False: no compilation; True: default
            options; a dict: keyword arguments of ``torch.compile``.
    """
    method = getattr(module, name)
    if not compile_cfg:
        return method
    key = f'_compiled_{name}'
    if key not in module.__dict__:
        kwargs = {} if compile_cfg is True else dict(compile_cfg)
        module.__dict__[key] = torch.compile(method, **kwargs)
    return module.__dict__[key]


# /proc/cpuinfo flags of CPUs with bf16 matrix instructions (x86: AVX512-BF16,
# AMX-BF16; Arm: the BF16 extension)
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16', 'bf16')


def cpu_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> list:
    """The bf16 flags this CPU reports (empty where it reports none or the
    file cannot be read, e.g. on macOS or Windows)."""
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('flags', 'Features'):
            return sorted(set(value.split()) & set(BF16_CPU_FLAGS))
    return []


def native_bf16(cpuinfo: str = '/proc/cpuinfo') -> str:
    """Why bf16 is native here (``'CUDA ...'``, ``'CPU flags ...'``), or ''
    where bf16 would be emulated (slower than fp32).

    Args:
        cpuinfo (str): Where the CPU's flags are read without CUDA.
    """
    if torch.cuda.is_available():
        return f'CUDA ({torch.cuda.get_device_name()})' \
            if torch.cuda.is_bf16_supported() else ''
    flags = cpu_bf16_flags(cpuinfo)
    return f'CPU flags {", ".join(flags)} ({platform.machine()})' \
        if flags else ''
