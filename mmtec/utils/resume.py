"""Pick the checkpoint ``--resume`` continues from."""
import glob
import logging
import os.path as osp
from typing import Optional

from mmengine.logging import print_log

from mmtec.checkpoint import safe_load


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


def _is_training_checkpoint(ckpt) -> bool:
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return isinstance(meta, dict) and 'iter' in meta and 'state_dict' in ckpt


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` that loads, or None.

    MMEngine resumes from the file named in ``work_dir/last_checkpoint``
    and fails when that file is missing or damaged (an interrupted save,
    a full disk), although an older checkpoint would do. Here every
    ``*.pth`` of the folder is tried from the newest (by modification
    time; saves are renamed into place when complete, so the newest
    complete save comes first even if ``last_checkpoint`` was not updated
    yet); each one that does not load (or is not a training checkpoint) is
    skipped with a warning that says why. An empty ``last_checkpoint`` or
    one naming a missing file is reported too. When checkpoints are there
    but none of them loads, this is an error rather than a fresh start
    that would overwrite them.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: Path of the checkpoint to resume from; None when there
        is none.

    Raises:
        RuntimeError: There are checkpoints, all damaged.
    """
    candidates = sorted(
        glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime,
        reverse=True)
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if not named:
            _warn(f'{pointer} is empty (a save was interrupted?); looking '
                  f'for the newest checkpoint in {work_dir} instead.')
        elif not osp.isfile(named):
            _warn(f'{pointer} names {named}, which does not exist; '
                  f'looking for the newest checkpoint in {work_dir} '
                  'instead.')
    damaged = []
    for path in candidates:
        try:
            ckpt = safe_load(path)
        except Exception as err:  # any failure: the file is unusable
            _warn(f'Skipping damaged checkpoint {path} for --resume: '
                  f'{type(err).__name__}: {err}')
            damaged.append(path)
            continue
        if not _is_training_checkpoint(ckpt):
            _warn(f'Skipping {path} for --resume: not a training '
                  'checkpoint (no meta/iter or state_dict).')
            continue
        return path
    if damaged:
        raise RuntimeError(
            f'--resume: none of the checkpoints in {work_dir} loads '
            f'({", ".join(osp.basename(p) for p in damaged)}; the reasons '
            'are logged above). Not starting from scratch over them: move '
            'them away to start afresh, or pass --resume PATH.')
    return None
