"""A checkpoint named by a local path, an http(s) URL or a model-zoo name.

Configs name a base model by its public release: an http(s) URL is fetched
through :func:`~mmtec.checkpoint.load_from_url` (torch hub's cache, checked
and read before it is cached); a model name of MMPretrain's model hub
(mmtec's released TEC models included, see ``mmtec/model_zoo.py``) is first
looked up to the weights URL of its metadata. Everything else is a local
path for :func:`~mmtec.checkpoint.safe_load`. An existing file always wins
over a model name of the same spelling.
"""
import os
import os.path as osp
import re
from typing import Any, Optional

from .download import load_from_url
from .errors import (
    CheckpointDownloadError,
    CheckpointError,
    CheckpointNotFoundError,
)
from .loader import safe_load

# what a model-zoo name can look like: no folder, no checkpoint suffix
_NAME = re.compile(r'[A-Za-z0-9][\w.-]*')
_FILE_SUFFIXES = ('.pth', '.pt', '.bin', '.ckpt', '.safetensors')


def _looks_like_name(source: str) -> bool:
    return bool(_NAME.fullmatch(source)) and \
        not source.lower().endswith(_FILE_SUFFIXES)


def weights_url(source: str) -> Optional[str]:
    """The URL that ``source`` stands for, or None for a local path.

    Args:
        source (str): An http(s) URL, a model name of
            ``mmpretrain.list_models()`` or a file path.

    Returns:
        str | None: ``source`` itself for a URL, the weights URL of a
        model-zoo name, None for a path (an existing file, or a string that
        is no model name).

    Raises:
        CheckpointNotFoundError: The model-zoo entry has no weights.
    """
    if source.startswith(('http://', 'https://')):
        return source
    if osp.exists(osp.expanduser(source)) or not _looks_like_name(source):
        return None
    from mmpretrain.apis import ModelHub
    try:
        model = ModelHub.get(source)
    except ValueError:
        return None
    if not model.weights:
        raise CheckpointNotFoundError(
            f'Model-zoo entry "{source}" has no released weights: give a '
            'checkpoint path or URL instead.', source)
    return model.weights


def _local_rank() -> int:
    """This process's rank on its node: what torchrun (``LOCAL_RANK``) or
    Slurm (``SLURM_LOCALID``) says; MMEngine's local group is not needed."""
    return int(os.environ.get('LOCAL_RANK') or
               os.environ.get('SLURM_LOCALID') or 0)


def _load_url_once_per_node(url: str, map_location: Any) -> Any:
    """In a distributed run, local rank 0 of each node downloads while the
    other ranks wait, then they read its checked, cached copy: one download
    per node, not one per process. A failure on any node is raised on every
    rank (none waits for the others forever)."""
    from mmengine.dist import all_gather_object, get_world_size
    if get_world_size() == 1:
        return load_from_url(url, map_location=map_location)
    first = _local_rank() == 0
    loaded = error = None
    if first:
        try:
            loaded = load_from_url(url, map_location=map_location)
        except Exception as err:  # raised below, on every rank
            error = err if isinstance(err, CheckpointError) else \
                CheckpointDownloadError(
                    f'Could not load "{url}": {type(err).__name__}: {err}',
                    url)
    failed = [e for e in all_gather_object(error) if e is not None]
    if failed:
        raise failed[0]
    return loaded if first else load_from_url(url, map_location=map_location)


def load_path_url_or_name(source: str, map_location: Any = 'cpu',
                          trust: bool = False) -> Any:
    """Load the checkpoint that ``source`` names.

    Args:
        source (str): A file path, an http(s) URL or a model name of
            ``mmpretrain.list_models()`` (after ``import mmtec``, TEC's
            released models too).
        map_location (Any): See :func:`~mmtec.checkpoint.safe_load`.
            Defaults to 'cpu'.
        trust (bool): Trust a local file that the loader refuses (see
            :func:`~mmtec.checkpoint.safe_load`). Downloads are never
            trusted: download such a file yourself and trust its path.
            Defaults to False.

    Returns:
        Any: The loaded checkpoint.

    Raises:
        CheckpointNotFoundError: ``source`` is neither a file, a URL nor a
            model name (the message lists the three).
        CheckpointError: See :func:`~mmtec.checkpoint.safe_load` and
            :func:`~mmtec.checkpoint.load_from_url`.
    """
    url = weights_url(source)
    if url is not None:
        return _load_url_once_per_node(url, map_location)
    if _looks_like_name(source) and not osp.exists(osp.expanduser(source)):
        raise CheckpointNotFoundError(
            f'Checkpoint "{source}" is neither a file nor a model name of '
            "MMPretrain's model hub. Give a file path, an http(s) URL, or "
            'a name that `python -c "import mmtec, mmpretrain; '
            'print(mmpretrain.list_models())"` lists.', source)
    return safe_load(source, map_location=map_location, trust=trust)
