"""Checkpoints named by an http(s) URL: download, check, then cache.

The file is downloaded under a temporary name next to its place in torch
hub's cache, checked against the SHA-256 prefix that its name carries
(``name-<hex>.pth``, torch hub's convention) when it has one, read with
:func:`~mmtec.checkpoint.safe_load`, and only then moved into the cache.
A dropped connection, a truncated body, an HTML error page or a file that
does not match its hash is reported and never cached. The cache is keyed
by the whole URL, so two URLs ending in the same file name never share it;
a file that torch hub cached under the URL's own file name is used too
(its hash checked when its name has one), without the network.

Nothing waits forever: a download stops when no bytes arrive for
``MMTEC_DOWNLOAD_TIMEOUT`` seconds (default 60), and when the size the
server announces, or the bytes it sends, pass ``MMTEC_DOWNLOAD_MAX_BYTES``
(default 8 GiB; a ViT-L checkpoint is 1.2 GB) or the free space of the
cache folder. The partial file is removed on every failure.
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import shutil
import urllib.error
import urllib.request
from typing import Any, Optional
from urllib.parse import urlparse

import torch
from mmengine.logging import print_log

from mmtec.atomic_files import TMP_SUFFIX, fsync_replace

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
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name, default)
    try:
        number = float(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise ValueError(f'{name}={value!r}: give a number > 0 (default '
                         f'{default:g}).')
    return number


def _bound(folder: str) -> tuple:
    """The most bytes a download may have, and what sets that bound."""
    limit = int(_setting(MAX_BYTES_ENV, MAX_BYTES))
    free = shutil.disk_usage(folder).free
    if free < limit:
        return free, f'the free space of {folder}'
    return limit, f'{MAX_BYTES_ENV}={limit}'


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
        CheckpointDownloadError: The server could not be reached or
            refused the request.
        CheckpointError: The download (or the cached copy) is not a usable
            checkpoint, or does not match its hash; the message names the
            URL and the file.
    """
    path = cached_path(url)
    expected = (sha256 or hash_prefix(url) or '').lower()
    if osp.isfile(path):  # checked before it was cached
        return _read_cached(path, url, '', map_location)
    # where torch hub itself caches the URL (or a file was put by hand)
    hub_copy = osp.join(osp.dirname(path), osp.basename(urlparse(url).path))
    if osp.isfile(hub_copy):
        return _read_cached(hub_copy, url, expected, map_location)
    os.makedirs(osp.dirname(path), exist_ok=True)
    # one partial file per process: ranks that share the cache folder never
    # write into each other's download
    partial = f'{path}.{os.getpid()}{TMP_SUFFIX}'
    cached = False
    try:
        _download(url, partial)
        if expected and not _sha256(partial).startswith(expected):
            raise CorruptCheckpointError(
                f'The SHA-256 of the file does not start with {expected}, '
                'the hash its release states.', url)
        loaded = safe_load(partial, map_location=map_location)
        fsync_replace(partial, path)
        cached = True
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
    finally:
        if not cached and osp.exists(partial):
            os.remove(partial)
    return loaded
