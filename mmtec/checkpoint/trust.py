"""The explicit opt-in to load a file that the loader refuses (and that
may then run code): ``MMTEC_TRUST_CHECKPOINTS`` (``1`` for every file, or
paths joined by ``os.pathsep``), the tools' ``--trust-checkpoint PATH``,
or ``trust=True`` next to ``checkpoint`` in a config. Off by default."""
import argparse
import os
import os.path as osp
from typing import Iterable, Set, Union

ENV_VAR = 'MMTEC_TRUST_CHECKPOINTS'
_trusted: Set[str] = set()


def _canonical(path: str) -> str:
    return osp.realpath(osp.expanduser(path))


def trust_checkpoint(paths: Union[str, Iterable[str], None]) -> None:
    """Trust these files for the rest of the process.

    Args:
        paths (str | Iterable[str] | None): What ``--trust-checkpoint``
            collected.
    """
    _trusted.update(map(_canonical, [paths] if isinstance(paths, str)
                        else paths or []))


def is_trusted(filename: str) -> bool:
    """Whether ``filename`` was named as trusted.

    Args:
        filename (str): The refused file.
    """
    env = os.environ.get(ENV_VAR, '').strip()
    if env.lower() in ('1', 'all', 'true', 'yes'):
        return True
    named = _trusted | {_canonical(p) for p in env.split(os.pathsep) if p}
    return _canonical(filename) in named


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-checkpoint PATH`` (repeatable) to a tool's parser;
    the tool passes ``args.trust_checkpoint`` to :func:`trust_checkpoint`
    before it loads anything.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_trust_argument(parser)
        >>> parser.parse_args(['--trust-checkpoint', 'a.pth',
        ...                    '--trust-checkpoint', 'b.pth']).trust_checkpoint
        ['a.pth', 'b.pth']
    """
    parser.add_argument(
        '--trust-checkpoint', action='append', metavar='PATH',
        help='load this file even if the checkpoint loader refuses it as '
        'possibly malicious (it may then run code; logged as a WARNING). '
        'Repeat for several files.')
