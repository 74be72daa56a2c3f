"""Whether this machine computes in bfloat16 natively."""
import platform

import torch

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
