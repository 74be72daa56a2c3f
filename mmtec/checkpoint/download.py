"""Checkpoints named by an http(s) URL: downloaded within time and size
bounds, checked against the SHA-256 prefix in their name (torch hub's
``name-<hex>.pth``) and read by :func:`~mmtec.checkpoint.safe_load` before
they are renamed into torch hub's cache, keyed by the whole URL."""
import hashlib
import http.client
import os
import os.path as osp
import re
import shutil
import urllib.error
import urllib.request
from contextlib import suppress
from typing import Any
from urllib.parse import urlparse

import torch
from mmengine.logging import print_log

from .atomic_write import TMP_SUFFIX, atomic_path
from .errors import (
    CheckpointDownloadError,
    CorruptCheckpointError,
    EmptyCheckpointError,
    NotACheckpointError,
    UnsafeCheckpointError,
)
from .loader import safe_load

# torch hub's convention: the first hex digits of the file's SHA-256
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,64})\.[a-z]+$')
# no bytes for this long, or more bytes (or than the disk holds), end it
TIMEOUT_ENV, TIMEOUT_S = 'MMTEC_DOWNLOAD_TIMEOUT', 60.0
MAX_BYTES_ENV, MAX_BYTES = 'MMTEC_DOWNLOAD_MAX_BYTES', 8 << 30
# what a download can turn out to be instead of a checkpoint
_BAD_CONTENT = (EmptyCheckpointError, NotACheckpointError,
                CorruptCheckpointError)
_YOURSELF = 'download the file yourself and give its local path'


def cached_path(url: str) -> str:
    """Where the download of ``url`` is cached: torch hub's folder, the
    file name prefixed with a digest of the whole URL."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = osp.basename(urlparse(url).path) or 'checkpoint'
    return osp.join(torch.hub.get_dir(), 'checkpoints', f'{digest}-{name}')


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name, default)
    with suppress(ValueError):
        if float(value) > 0:
            return float(value)
    raise ValueError(f'{name}={value!r}: give a number > 0 (default '
                     f'{default:g}).')


def _download(url: str, dst: str) -> None:
    """Fetch ``url`` into ``dst``, within the time and size bounds."""
    timeout = _setting(TIMEOUT_ENV, TIMEOUT_S)
    bound = int(_setting(MAX_BYTES_ENV, MAX_BYTES))
    why = f'{MAX_BYTES_ENV}={bound}'
    if shutil.disk_usage(osp.dirname(dst)).free < bound:
        bound = shutil.disk_usage(osp.dirname(dst)).free
        why = f'the free space of {osp.dirname(dst)}'
    request = urllib.request.Request(url, headers={'User-Agent': 'mmtec'})
    try:  # the timeout holds for connecting and for every read
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = -1 if response.length is None else response.length
            if announced > bound:
                raise CheckpointDownloadError(
                    f'Refused to download "{url}": the server announces '
                    f'{announced} bytes, more than {bound} ({why}). Free '
                    f'space, raise {MAX_BYTES_ENV}, or {_YOURSELF}.', url)
            size = f'{announced / 1e6:.1f} MB' if announced >= 0 else \
                'size not announced'
            print_log(f'Downloading "{url}" ({size}) to {dst}',
                      logger='current')
            received = 0
            with open(dst, 'wb') as f:
                for block in iter(lambda: response.read1(1 << 16), b''):
                    received += len(block)
                    if received > bound:
                        raise CheckpointDownloadError(
                            f'Stopped downloading "{url}" after {bound} '
                            f'bytes, the most allowed ({why}): the server '
                            'sends more than it announced, or a file too '
                            'large for this disk.', url)
                    f.write(block)
                    f.flush()  # on disk as it comes: the size shows progress
    except urllib.error.HTTPError as err:
        raise CheckpointDownloadError(
            f'Could not download "{url}": the server answered HTTP '
            f'{err.code} ({err.reason}). Check the URL, or {_YOURSELF}.',
            url) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, 'reason', err)
        if isinstance(reason, TimeoutError):
            reason = (f'no bytes arrived for {timeout:g} s (set '
                      f'{TIMEOUT_ENV} to wait longer)')
        raise CheckpointDownloadError(
            f'Could not download "{url}": {reason}. Check the network, or '
            f'{_YOURSELF}.', url) from None
    if 0 <= announced != received:
        raise CorruptCheckpointError(
            f'The server announced {announced} bytes and sent {received}.',
            url)


def _read(path: str, expected: str, map_location: Any) -> Any:
    """:func:`safe_load` of ``path`` if its SHA-256 starts with
    ``expected``."""
    with open(path, 'rb') as f:
        if expected and not hashlib.file_digest(
                f, 'sha256').hexdigest().startswith(expected):
            raise CorruptCheckpointError(
                f'"{path}" does not match the SHA-256 its name states: its '
                f'hash does not start with {expected}.', path)
    return safe_load(path, map_location=map_location)


def load_from_url(url: str, map_location: Any = None) -> Any:
    """Load the checkpoint at ``url`` through the cache.

    Args:
        url (str): An http(s) URL of a checkpoint file.
        map_location (Any): See :func:`~mmtec.checkpoint.safe_load`.

    Returns:
        Any: What :func:`~mmtec.checkpoint.safe_load` returns.

    Raises:
        CheckpointError: The download failed, or it (or the cached copy)
            is not a usable checkpoint; the message names URL and file.
    """
    path, name = cached_path(url), osp.basename(urlparse(url).path)
    found = _HASH_IN_NAME.search(name)
    expected = found.group(1) if found else ''
    # checked before it was cached; where torch hub itself caches the URL
    for copy, digest in ((path, ''), (osp.join(osp.dirname(path), name),
                                      expected)):
        if osp.isfile(copy):
            try:
                return _read(copy, digest, map_location)
            except _BAD_CONTENT as err:
                raise type(err)(
                    f'{err} This is the cached download of "{url}": delete '
                    'it to download it again.', copy) from None
    os.makedirs(osp.dirname(path), exist_ok=True)
    try:  # one partial file per process: ranks never share one
        with atomic_path(path, f'.{os.getpid()}{TMP_SUFFIX}') as partial:
            _download(url, partial)
            loaded = _read(partial, expected, map_location)
    except _BAD_CONTENT as err:
        raise type(err)(
            f'The download of "{url}" is not a usable checkpoint (a '
            'dropped connection, an error page served in its place, or a '
            f'changed file). Nothing was cached; run again to retry. {err}',
            url) from None
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(
            f'{err} (downloaded from "{url}"; not cached)', url,
            err.refused) from None
    return loaded
