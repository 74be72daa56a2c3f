"""Checkpoints named by an http(s) URL: download, check, then cache.

``get_model(name, pretrained=True)``, ``load_from`` and ``Pretrained``
init_cfgs with a URL reach :func:`load_from_url` through MMEngine's
``CheckpointLoader``. The file is downloaded next to its place in torch
hub's cache (``<hub dir>/checkpoints``) under a temporary name, read with
:func:`~mmtec.checkpoint.safe_load`, and moved into the cache only once it
has loaded: a dropped connection, a truncated body or an HTML error page
served in place of the file is reported and never cached as if it were
the checkpoint.
"""
import os
import os.path as osp
import urllib.error
from typing import Any
from urllib.parse import urlparse

import torch

from mmtec.atomic_files import fsync_replace
from .errors import (CheckpointDownloadError, CorruptCheckpointError,
                     EmptyCheckpointError, NotACheckpointError,
                     UnsafeCheckpointError)
from .safe_load import safe_load

PARTIAL_SUFFIX = '.partial'
# what a download can turn out to be instead of a checkpoint
_BAD_CONTENT = (EmptyCheckpointError, NotACheckpointError,
                CorruptCheckpointError)


def cached_path(url: str) -> str:
    """Where the download of ``url`` is cached (torch hub's layout)."""
    return osp.join(torch.hub.get_dir(), 'checkpoints',
                    osp.basename(urlparse(url).path))


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


def load_from_url(url: str, map_location: Any = None) -> Any:
    """Load the checkpoint at ``url`` through the cache.

    Args:
        url (str): An http(s) URL of a checkpoint file.
        map_location (Any): See :func:`~mmtec.checkpoint.safe_load`.

    Returns:
        Any: What :func:`~mmtec.checkpoint.safe_load` returns.

    Raises:
        CheckpointDownloadError: The server could not be reached or
            refused the request.
        CheckpointError: The download (or the cached copy) is not a usable
            checkpoint; the message names the URL and the file.
    """
    path = cached_path(url)
    if osp.isfile(path):
        try:
            return safe_load(path, map_location=map_location)
        except _BAD_CONTENT as err:
            raise type(err)(
                f'{err} This is the cached download of "{url}": delete it '
                'to download it again.', path) from None
    os.makedirs(osp.dirname(path), exist_ok=True)
    partial = path + PARTIAL_SUFFIX
    cached = False
    try:
        _download(url, partial)
        loaded = safe_load(partial, map_location=map_location)
        fsync_replace(partial, path)
        cached = True
    except _BAD_CONTENT as err:
        raise type(err)(
            f'The download of "{url}" is not a usable checkpoint (a '
            'dropped connection, or an error page served in its place). '
            f'Nothing was cached; run again to retry. {err}', url) from None
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(
            f'{err} (downloaded from "{url}"; not cached)', url,
            err.refused) from None
    finally:
        if not cached and osp.exists(partial):
            os.remove(partial)
    return loaded
