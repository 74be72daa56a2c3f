"""Bad input to a command-line tool ends in one line, not a traceback.

A missing file, a misspelled option or an unusable checkpoint is the
user's to fix, and the fix is in the message. Other errors (bugs,
CUDA/NCCL failures) keep their traceback; so does ``--debug``. A
shortened error's traceback is kept in a file the line names (a
``ValueError`` may be a bug, and a crash hours into a run is costly to
repeat).
"""
import os
import os.path as osp
import sys
import tempfile
import traceback
from contextlib import contextmanager

from mmtec.checkpoint.errors import CheckpointError

#: errors that describe bad input, with a message that says what to do
#: (the engine's UnmatchedCheckpointError is a ValueError)
USER_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError,
               FileExistsError, PermissionError, ValueError, CheckpointError)


def one_line(err: BaseException) -> str:
    """``Type: message`` on a single line."""
    return f'{type(err).__name__}: ' + ' '.join(str(err).split())


@contextmanager
def one_line_errors(debug: bool = False):
    """Turn :data:`USER_ERRORS` raised inside into one line on stderr and
    exit status 1; the line names the file that keeps the traceback.

    Args:
        debug (bool): Let every error through with its traceback.
    """
    if debug:
        yield
        return
    try:
        yield
    except USER_ERRORS as err:
        print(one_line(err) + f' (traceback: {_save_traceback(err)}; '
              '--debug prints it)', file=sys.stderr)
        raise SystemExit(1)


def _save_traceback(err: BaseException) -> str:
    """Write ``err``'s traceback to a new file in the temporary folder and
    return its path (or why there is none)."""
    try:
        fd, path = tempfile.mkstemp(prefix='mmtec_traceback_', suffix='.txt')
        with os.fdopen(fd, 'w') as f:
            f.writelines(traceback.format_exception(err))
        return path
    except OSError as why:  # a full or read-only /tmp must not hide err
        return f'not saved: {why}'


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
