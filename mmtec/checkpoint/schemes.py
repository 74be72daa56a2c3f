"""Every checkpoint scheme MMEngine knows ends in the one loader.

MMEngine's ``CheckpointLoader`` reads ``load_from``, ``--resume`` and
``Pretrained`` init_cfgs by prefix. Its own loaders call ``torch.load``
directly (``torchvision://``, ``open-mmlab://`` and ``mmcls://`` through
torch hub's ``weights_only=False`` cache reader), so each prefix is
registered again here: local paths and files fetched from object storage
go to :func:`~mmtec.checkpoint.safe_load`, URLs to
:func:`~mmtec.checkpoint.load_from_url`, and ``pavi://`` is refused.
"""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Any, Callable

from mmengine.runner.checkpoint import (
    CheckpointLoader,
    get_deprecated_model_names,
    get_external_models,
    get_mmcls_models,
    get_torchvision_models,
)

from .download import load_from_url
from .errors import CheckpointDownloadError, CheckpointNotFoundError
from .loader import safe_load


def _load_local(filename: str, map_location: Any = None) -> Any:
    return safe_load(filename, map_location=map_location)


def _by_name(table: Callable[[], dict]) -> Callable:
    """A loader of ``scheme://name`` through MMEngine's name -> URL table."""

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
            return load_from_url(urls[name], map_location)
        # open-mmlab:// may name a file under MMEngine's home
        home = os.getenv('MMENGINE_HOME', osp.join(
            os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine'))
        return safe_load(osp.join(osp.expanduser(home), urls[name]),
                         map_location)

    return load


def _load_mmcls(filename: str, map_location: Any = None) -> Any:
    checkpoint = _by_name(get_mmcls_models)(filename, map_location)
    state = checkpoint.get('state_dict', checkpoint)
    # MMClassification files hold whole classifiers; the scheme means the
    # backbone
    return dict(state_dict=OrderedDict(
        (k[len('backbone.'):], v) for k, v in state.items()
        if k.startswith('backbone.')))


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


SCHEMES = {
    '': _load_local,
    ('http://', 'https://'): load_from_url,
    ('modelzoo://', 'torchvision://'): _by_name(get_torchvision_models),
    ('open-mmlab://', 'openmmlab://'): _by_name(get_external_models),
    'mmcls://': _load_mmcls,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): _load_object_storage,
    'pavi://': _refuse_pavi,
}


def register_safe_schemes() -> None:
    """Point every prefix of MMEngine's ``CheckpointLoader`` at the one
    loader (``load_from``, ``--resume``, ``Pretrained`` init,
    ``get_model(pretrained=...)``)."""
    for prefixes, loader in SCHEMES.items():
        CheckpointLoader.register_scheme(
            prefixes=prefixes, loader=loader, force=True)
