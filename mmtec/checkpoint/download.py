"""Checkpoints named by an http(s) URL: download, check, then cache.

The download goes to a temporary name next to its place in torch hub's
cache (keyed by the whole URL), is checked against the SHA-256 prefix its
name carries (``name-<hex>.pth``, torch hub's convention), read with
:func:`~mmtec.checkpoint.safe_load`, and only then renamed into the cache;
nothing else is ever cached. A file torch hub cached under the URL's own
name is used without the network. A download stops when no bytes arrive
for ``MMTEC_DOWNLOAD_TIMEOUT`` seconds (default 60) and when its size
passes ``MMTEC_DOWNLOAD_MAX_BYTES`` (default 8 GiB) or the free space.
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import shutil
import urllib.error
import urllib.request
from contextlib import suppress
from typing import Any, Optional
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
# no bytes for this many seconds end a download; more bytes are refused
TIMEOUT_ENV, TIMEOUT_S = 'MMTEC_DOWNLOAD_TIMEOUT', 60.0
MAX_BYTES_ENV, MAX_BYTES = 'MMTEC_DOWNLOAD_MAX_BYTES', 8 << 30
# what a download can turn out to be instead of a checkpoint
_BAD_CONTENT = (EmptyCheckpointError, NotACheckpointError,
                CorruptCheckpointError)


def cached_path(url: str) -> str:
    """Where the download of ``url`` is cached: torch hub's folder, the
    file name prefixed with a digest of the whole URL."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = osp.basename(urlparse(url).path) or 'checkpoint'
    return osp.join(torch.hub.get_dir(), 'checkpoints', f'{digest}-{name}')


def hash_prefix(url: str) -> Optional[str]:
    """The SHA-256 prefix that the URL's file name carries, if any."""
    found = _HASH_IN_NAME.search(osp.basename(urlparse(url).path))
    return found.group(1) if found else None


def _sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name, default)
    with suppress(ValueError):
        if float(value) > 0:
            return float(value)
    raise ValueError(f'{name}={value!r}: give a number > 0 (default '
                     f'{default:g}).')


def _bound(folder: str) -> tuple:
    """The most bytes a download may have, and what sets that bound."""
    limit = int(_setting(MAX_BYTES_ENV, MAX_BYTES))
    free = shutil.disk_usage(folder).free
    return (free, f'the free space of {folder}') if free < limit else (
        limit, f'{MAX_BYTES_ENV}={limit}')


def _download(url: str, dst: str) -> None:
    """Fetch ``url`` into ``dst``, within the time and size bounds."""
    timeout = _setting(TIMEOUT_ENV, TIMEOUT_S)
    bound, why = _bound(osp.dirname(dst))
    request = urllib.request.Request(url, headers={'User-Agent': 'mmtec'})
    try:
        # the timeout holds for connecting and for every read: no bytes for
        # that long ends the download
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = -1 if response.length is None else response.length
            if announced > bound:
                raise CheckpointDownloadError(
                    f'Refused to download "{url}": the server announces '
                    f'{announced} bytes, more than {bound} ({why}). Free '
                    f'space, raise {MAX_BYTES_ENV}, or download the file '
                    'yourself and give its local path.', url)
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
            f'{err.code} ({err.reason}). Check the URL, or download the '
            'file yourself and give its local path.', url) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, 'reason', err)
        if isinstance(reason, TimeoutError):
            reason = (f'no bytes arrived for {timeout:g} s (set '
                      f'{TIMEOUT_ENV} to wait longer)')
        raise CheckpointDownloadError(
            f'Could not download "{url}": {reason}. Check the network, or '
            'download the file yourself and give its local path.',
            url) from None
    if 0 <= announced != received:
        raise CorruptCheckpointError(
            f'The server announced {announced} bytes and sent {received}.',
            url)


def _read_cached(copy: str, url: str, expected: str,
                 map_location: Any) -> Any:
    if expected and not _sha256(copy).startswith(expected):
        raise CorruptCheckpointError(
            f'"{copy}", the cached download of "{url}", does not match the '
            f'SHA-256 {expected} its name states: delete it to download it '
            'again.', copy)
    try:
        return safe_load(copy, map_location=map_location)
    except _BAD_CONTENT as err:
        raise type(err)(
            f'{err} This is the cached download of "{url}": delete it '
            'to download it again.', copy) from None


def load_from_url(url: str, map_location: Any = None,
                  sha256: Optional[str] = None) -> Any:
    """Load the checkpoint at ``url`` through the cache.

    Args:
        url (str): An http(s) URL of a checkpoint file.
        map_location (Any): See :func:`~mmtec.checkpoint.safe_load`.
        sha256 (str, optional): The file's SHA-256 (or a prefix of it).
            Defaults to the prefix that the URL's file name carries, if any.

    Returns:
        Any: What :func:`~mmtec.checkpoint.safe_load` returns.

    Raises:
        CheckpointError: The server could not be reached or refused
            (:class:`CheckpointDownloadError`), or the download (or the
            cached copy) is not a usable checkpoint or does not match its
            hash; the message names the URL and the file.
    """
    path = cached_path(url)
    expected = (sha256 or hash_prefix(url) or '').lower()
    # checked before it was cached; where torch hub itself caches the URL
    hub_copy = osp.join(osp.dirname(path), osp.basename(urlparse(url).path))
    for copy, digest in ((path, ''), (hub_copy, expected)):
        if osp.isfile(copy):
            return _read_cached(copy, url, digest, map_location)
    os.makedirs(osp.dirname(path), exist_ok=True)
    try:
        # one partial file per process: ranks sharing the cache folder
        # never write into each other's download
        with atomic_path(path, f'.{os.getpid()}{TMP_SUFFIX}') as partial:
            _download(url, partial)
            if expected and not _sha256(partial).startswith(expected):
                raise CorruptCheckpointError(
                    f'The SHA-256 of the file does not start with '
                    f'{expected}, the hash its release states.', url)
            loaded = safe_load(partial, map_location=map_location)
    except _BAD_CONTENT as err:
        raise type(err)(
            f'The download of "{url}" is not a usable checkpoint (a '
            'dropped connection, an error page served in its place, or a '
            'changed file). Nothing was cached; run again to retry. '
            f'{err}', url) from None
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(
            f'{err} (downloaded from "{url}"; not cached)', url,
            err.refused) from None
    return loaded
