"""Bad input to a command-line tool ends in one line, not a traceback.

A missing data folder or config, a misspelled option or an unusable
checkpoint is the user's to fix, and the fix is in the message; a
traceback of 13 to 650 lines only buries it. ``--debug`` keeps the
traceback. Errors outside this list (bugs, CUDA/NCCL failures) keep their
traceback.
"""
import os.path as osp
import sys
from contextlib import contextmanager

from mmtec.checkpoint.errors import CheckpointError
from mmtec.engine.hooks.checkpoint_match_hook import UnmatchedCheckpointError

#: errors that describe bad input, with a message that says what to do
USER_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError,
               FileExistsError, PermissionError, ValueError, CheckpointError,
               UnmatchedCheckpointError)


def one_line(err: BaseException) -> str:
    """``Type: message`` on a single line."""
    return f'{type(err).__name__}: ' + ' '.join(str(err).split())


@contextmanager
def one_line_errors(debug: bool = False):
    """Turn :data:`USER_ERRORS` raised inside into one line on stderr and
    exit status 1.

    Args:
        debug (bool): Let every error through with its traceback.
    """
    if debug:
        yield
        return
    try:
        yield
    except USER_ERRORS as err:
        print(one_line(err) + ' (--debug shows the traceback)',
              file=sys.stderr)
        raise SystemExit(1)


def add_debug_argument(parser) -> None:
    """``--debug``: the flag :func:`one_line_errors` reads.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the traceback of a bad-input error (missing file, '
        'misspelled option, ...) instead of one line')


def existing_config(path: str) -> str:
    """``path`` if it is a file, else a ``FileNotFoundError`` saying so.

    Args:
        path (str): The config argument.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Config file {path} does not exist ({osp.abspath(path)}). The '
            'configs are under configs/ (e.g. configs/tec_vit-b_800e_in1k.py)'
            '; run from the repository root or give the full path.')
    return path
