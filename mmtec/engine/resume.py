"""Pick the checkpoint ``--resume`` continues from, and check what it got."""
import glob
import logging
import os
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log

from mmtec.checkpoint import safe_load

PATH_MAX = 4096  # a longer last_checkpoint is not a path


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


def is_training_checkpoint(ckpt) -> bool:
    """Whether ``ckpt`` holds a state dict and the meta with the iteration.

    Args:
        ckpt: A loaded object.
    """
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return isinstance(meta, dict) and 'iter' in meta and 'state_dict' in ckpt


def checkpoint_folders(work_dir: str,
                       out_dir: Optional[str] = None) -> List[str]:
    """The folders the checkpoint hook writes to: the work dir, or
    ``out_dir/<basename of the work dir>`` (``last_checkpoint`` stays in
    the work dir).

    Args:
        work_dir (str): The run's work dir.
        out_dir (str, optional): ``default_hooks.checkpoint.out_dir``.
    """
    work_dir = osp.abspath(work_dir)
    if not out_dir:
        return [work_dir]
    out = osp.abspath(out_dir)
    if out != work_dir:
        out = osp.join(out, osp.basename(work_dir.rstrip(osp.sep)))
    return [out] if out == work_dir else [out, work_dir]


def _load_training_checkpoint(path: str):
    """``(checkpoint, None)``, or ``(None, damaged)`` with a warning when
    the file is unusable; ``damaged`` is False for a weights-only file."""
    if not osp.exists(path):  # a dangling link
        _warn(f'Skipping {path} for --resume: it is a link to '
              f'{os.readlink(path)}, which does not exist.')
        return None, False  # nothing there that a fresh start would lose
    try:
        ckpt = safe_load(path)
    except Exception as err:  # any failure: the file is unusable
        _warn(f'Skipping damaged checkpoint {path} for --resume: '
              f'{type(err).__name__}: {err}')
        return None, True
    if not is_training_checkpoint(ckpt):
        _warn(f'Skipping {path} for --resume: not a training checkpoint '
              '(no meta/iter or state_dict).')
        return None, False
    return ckpt, None


def _mtime(path: str) -> float:
    try:
        return osp.getmtime(path)
    except OSError:  # a dangling link: tried last, skipped with a warning
        return float('-inf')


def _named_checkpoint(work_dir: str, folders: List[str]) -> Optional[str]:
    """The file ``work_dir/last_checkpoint`` names (None if none): for
    a file outside ``folders`` (a copied work dir) its copy in them, else
    an error (another run's); a pointer that is not text, or names nothing
    that exists, is skipped with a warning."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer, 'rb') as f:
        raw = f.read(PATH_MAX + 1)
    try:
        named = raw.decode('utf-8').strip()
    except UnicodeDecodeError:
        named = None
    if named is None or len(raw) > PATH_MAX or '\0' in named:
        _warn(f'{pointer} is not a text file naming a checkpoint (damaged?); '
              'looking for the newest checkpoint instead.')
        return None
    if not named:
        _warn(f'{pointer} is empty (a save was interrupted?); looking for '
              'the newest checkpoint instead.')
        return None
    if not osp.isabs(named):
        named = osp.join(work_dir, named)
    if osp.dirname(osp.abspath(named)) not in folders:
        for folder in folders:
            local = osp.join(folder, osp.basename(named))
            if osp.lexists(local):
                print_log(f'{pointer} names {named}; using {local} in this '
                          'run\'s checkpoint folder.', logger='current')
                return local
    if not osp.lexists(named):
        _warn(f'{pointer} names {named}, which does not exist; looking for '
              'the newest checkpoint instead.')
        return None
    if osp.dirname(osp.abspath(named)) not in folders:
        raise ValueError(
            f'--resume: {pointer} names {named}, outside this run\'s '
            f'checkpoint folder(s) {", ".join(folders)}: another run\'s '
            'checkpoint. To continue from it, pass --resume with its path; '
            'otherwise remove that last_checkpoint file.')
    return named


def find_resumable_checkpoint(work_dir: str,
                              out_dir: Optional[str] = None) -> Optional[str]:
    """The checkpoint ``--resume`` continues from, or None: the one
    ``last_checkpoint`` names when it loads, unless a later save holds a
    later iteration (a crash before the pointer's update); else the
    loadable ``*.pth`` with the latest iteration. Unusable files are
    skipped with a warning; if none loads, that is an error.

    Args:
        work_dir (str): The run's work dir.
        out_dir (str, optional): ``default_hooks.checkpoint.out_dir``.

    Returns:
        str | None: The checkpoint's path; None when there is none.

    Raises:
        RuntimeError: There are checkpoints, none of which loads.
    """
    work_dir = osp.abspath(work_dir)
    folders = checkpoint_folders(work_dir, out_dir)
    candidates = sorted(
        {p for folder in folders
         for p in glob.glob(osp.join(folder, '*.pth'))
         if not osp.basename(p).startswith('best_')},
        key=_mtime, reverse=True)
    named = _named_checkpoint(work_dir, folders)
    if named is not None:  # tried first
        candidates = [named] + [p for p in candidates
                                if osp.abspath(p) != osp.abspath(named)]
    best_path, best_iter, since, damaged = None, None, None, []
    for path in candidates:
        if since is not None and _mtime(path) <= since:
            continue
        ckpt, bad = _load_training_checkpoint(path)
        if bad:
            damaged.append(path)
        if ckpt is not None and path == named:
            since = _mtime(named)  # only saves written after it go further
        if ckpt is not None and (best_iter is None
                                 or ckpt['meta']['iter'] > best_iter):
            best_path, best_iter = path, ckpt['meta']['iter']
    if best_path is not None:
        return best_path
    if damaged:
        raise RuntimeError(
            f'--resume: none of the checkpoints in {" or ".join(folders)} '
            f'loads ({", ".join(osp.basename(p) for p in damaged)}; the '
            'reasons are logged above). Not starting from scratch over '
            'them: move them away to start afresh, or pass --resume PATH.')
    return None
