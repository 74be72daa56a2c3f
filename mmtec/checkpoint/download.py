"""Checkpoints named by an http(s) URL: download, check, then cache.

The file is downloaded under a temporary name next to its place in torch
hub's cache, checked against the SHA-256 prefix that its name carries
(``name-<hex>.pth``, torch hub's convention) when it has one, read with
:func:`~mmtec.checkpoint.safe_load`, and only then moved into the cache.
A dropped connection, a truncated body, an HTML error page or a file that
does not match its hash is reported and never cached. The cache is keyed
by the whole URL, so two URLs ending in the same file name never share it.
"""
import hashlib
import os
import os.path as osp
import re
import urllib.error
from typing import Any, Optional
from urllib.parse import urlparse

import torch

from mmtec.atomic_files import TMP_SUFFIX, fsync_replace
from .errors import (CheckpointDownloadError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .loader import safe_load


# torch hub's convention: the first hex digits of the file's SHA-256
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,64})\.[a-z]+$')
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


def _download(url: str, dst: str) -> None:
    try:
        torch.hub.download_url_to_file(url, dst, progress=True)
    except urllib.error.HTTPError as err:
        raise CheckpointDownloadError(
            f'Could not download "{url}": the server answered HTTP '
            f'{err.code} ({err.reason}). Check the URL, or download the '
            'file yourself and give its local path.', url) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, 'reason', err)
        raise CheckpointDownloadError(
            f'Could not download "{url}": {reason}. Check the network, or '
            'download the file yourself and give its local path.',
            url) from None


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
    if osp.isfile(path):
        try:
            return safe_load(path, map_location=map_location)
        except _BAD_CONTENT as err:
            raise type(err)(
                f'{err} This is the cached download of "{url}": delete it '
                'to download it again.', path) from None
    expected = (sha256 or hash_prefix(url) or '').lower()
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
