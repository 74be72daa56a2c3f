"""The ``--trust-checkpoint PATH`` flag, the same in every tool."""
import argparse


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-checkpoint PATH`` (repeatable) to ``parser``.

    The tool passes the collected paths (``args.trust_checkpoint``, a list
    or None) to :func:`mmtec.checkpoint.trust_checkpoint` before it loads
    anything.

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
