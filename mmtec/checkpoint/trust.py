"""The explicit opt-in to load a file that the allow-list refuses.

A refused file may run code when it is loaded without the allow-list, so
it is loaded that way only when the user named it as trusted, by one of:

* the environment variable ``MMTEC_TRUST_CHECKPOINTS``: ``1`` (every file)
  or a list of paths separated by ``os.pathsep`` (``:`` on Linux);
* the ``--trust-checkpoint PATH`` flag of the tools that read files;
* ``trust=True`` next to ``checkpoint`` in a config (the ``Pretrained``
  ``init_cfg`` of mmtec's backbones, ``TECTargetGenerator``).

It is off by default, and every use is logged as a WARNING naming the file.
"""
import os
import os.path as osp
from typing import Iterable, Set, Union

ENV_VAR = 'MMTEC_TRUST_CHECKPOINTS'
_ALL = ('1', 'all', 'true', 'yes')
_trusted: Set[str] = set()


def _canonical(path: str) -> str:
    return osp.realpath(osp.expanduser(path))


def trust_checkpoint(paths: Union[str, Iterable[str], None]) -> None:
    """Trust these files for the rest of the process (the CLI flag)."""
    if paths is None:
        return
    if isinstance(paths, str):
        paths = [paths]
    _trusted.update(_canonical(p) for p in paths)


def is_trusted(filename: str) -> bool:
    """Whether ``filename`` was named as trusted."""
    env = os.environ.get(ENV_VAR, '').strip()
    if env.lower() in _ALL:
        return True
    named = set(_trusted)
    named.update(_canonical(p) for p in env.split(os.pathsep) if p)
    return _canonical(filename) in named


def how_to_trust(filename: str) -> str:
    """The opt-in, spelled out for an error message."""
    return (f'If you trust this file and its source, opt in explicitly: '
            f'{ENV_VAR}={filename}, the --trust-checkpoint flag of the tool, '
            'or trust=True next to the checkpoint in the config.')
