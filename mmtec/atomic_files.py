"""Files written whole or not at all: a temporary name, fsync, rename.

Checkpoints, their ``last_checkpoint`` pointer, converted weights, compute
records, study records and downloads all land through these helpers, so a
crash or a full disk never leaves a half-written file under the real name.
"""
import os
import os.path as osp

TMP_SUFFIX = '.tmp'


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it
    os.umask(mask)
    return mask


def fsync_replace(tmp_path: str, path: str) -> None:
    """Flush ``tmp_path`` to disk, rename it to ``path`` and sync the folder.

    ``os.replace`` is atomic within one file system, so ``path`` is either
    the old file or the complete new one, never a partial write.
    """
    with open(tmp_path, 'rb+') as f:
        f.flush()
        os.fsync(f.fileno())
    # some writers (safetensors) create files 0600: readable by others on a
    # shared cluster as the umask allows, like any other file
    os.chmod(tmp_path, 0o666 & ~_umask())
    os.replace(tmp_path, path)
    try:  # make the rename itself durable (not possible on every OS)
        fd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomically(path: str, text: str) -> None:
    """Write a small text file through a temporary file and a rename."""
    tmp_path = path + TMP_SUFFIX
    with open(tmp_path, 'w') as f:
        f.write(text)
    fsync_replace(tmp_path, path)


def write_bytes_atomically(path: str, data: bytes) -> None:
    """Write ``data`` through a temporary file and a rename."""
    tmp_path = path + TMP_SUFFIX
    with open(tmp_path, 'wb') as f:
        f.write(data)
    fsync_replace(tmp_path, path)
