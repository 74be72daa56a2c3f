"""Every name a checkpoint can have, read through the one loader: a path,
an http(s) URL, a model name of MMPretrain's model hub, and each prefix of
MMEngine's ``CheckpointLoader`` (whose own loaders call ``torch.load``)."""
import os
import os.path as osp
import re
import tempfile
from collections import OrderedDict
from typing import Any, Callable, Optional

from mmengine.runner.checkpoint import (
    CheckpointLoader,
    get_deprecated_model_names,
    get_external_models,
    get_mmcls_models,
    get_torchvision_models,
)

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
    """The URL that ``source`` stands for: itself, the weights of a
    model-zoo name, or None for a path (or what is no model name).

    Args:
        source (str): An http(s) URL, a model name of
            ``mmpretrain.list_models()`` or a file path.
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


def _load_url_once_per_node(url: str, map_location: Any) -> Any:
    """In a distributed run, local rank 0 of each node (torchrun's
    ``LOCAL_RANK``, Slurm's ``SLURM_LOCALID``) downloads while the other
    ranks wait, then they read its checked copy. A failure on any node is
    raised on every rank (none waits for the others forever)."""
    from mmengine.dist import all_gather_object, get_world_size
    if get_world_size() == 1:
        return load_from_url(url, map_location=map_location)
    first = int(os.environ.get('LOCAL_RANK')
                or os.environ.get('SLURM_LOCALID') or 0) == 0
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
        trust (bool): Trust a local file that the loader refuses; never
            a download. Defaults to False.

    Raises:
        CheckpointError: Also when ``source`` is neither a file, a URL nor
            a model name.
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


def _by_name(table: Callable[[], dict], backbone_only: bool = False):
    """A loader of ``scheme://name`` through MMEngine's name -> URL table;
    ``backbone_only``: the backbone of an MMClassification classifier."""

    def load(filename: str, map_location: Any = None) -> Any:
        name = filename.split('://', 1)[1]
        name = get_deprecated_model_names().get(name, name)
        urls = table()
        if name not in urls:
            raise CheckpointNotFoundError(
                f'"{filename}" names no known model ("{name}" is not in '
                "MMEngine's table for this scheme); give a URL or a path.",
                filename)
        if urls[name].startswith(('http://', 'https://')):
            checkpoint = load_from_url(urls[name], map_location)
        else:  # open-mmlab:// may name a file under MMEngine's home
            home = os.getenv('MMENGINE_HOME', osp.join(
                os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine'))
            checkpoint = safe_load(
                osp.join(osp.expanduser(home), urls[name]), map_location)
        if not backbone_only:
            return checkpoint
        state = checkpoint.get('state_dict', checkpoint)
        return dict(state_dict=OrderedDict(
            (k[len('backbone.'):], v) for k, v in state.items()
            if k.startswith('backbone.')))

    return load


def _load_object_storage(filename: str, map_location: Any = None) -> Any:
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
    with tempfile.TemporaryDirectory() as folder:
        local = osp.join(folder, osp.basename(filename) or 'checkpoint')
        with open(local, 'wb') as f:
            f.write(backend.get(filename))
        return safe_load(local, map_location)


def _refuse_pavi(filename: str, map_location: Any = None) -> Any:
    raise CheckpointDownloadError(
        f'"{filename}": pavi:// checkpoints are not supported; download the '
        'file and give its local path.', filename)


def register_safe_schemes() -> None:
    """Point every prefix of MMEngine's ``CheckpointLoader`` at the one
    loader (``load_from``, ``--resume``, ``Pretrained`` init,
    ``get_model(pretrained=...)``)."""
    for prefixes, loader in {
            '': safe_load,
            ('http://', 'https://'): load_from_url,
            ('modelzoo://', 'torchvision://'): _by_name(
                get_torchvision_models),
            ('open-mmlab://', 'openmmlab://'): _by_name(get_external_models),
            'mmcls://': _by_name(get_mmcls_models, backbone_only=True),
            (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): _load_object_storage,
            'pavi://': _refuse_pavi,
    }.items():
        CheckpointLoader.register_scheme(
            prefixes=prefixes, loader=loader, force=True)
