"""Register mmtec's released models with MMPretrain's model hub.

After ``import mmtec``, ``mmpretrain.list_models('*tec*')`` lists the TEC
checkpoints of ``model-index.yml`` and ``mmpretrain.get_model(name)`` builds
their fine-tuning models.
"""
import os.path as osp
from typing import Optional

from mmpretrain.apis import ModelHub

_registered = False


def find_model_index() -> Optional[str]:
    """``model-index.yml`` shipped in the package (``mmtec/.mim``, which
    ``setup.py`` fills: copies in a wheel, links in an editable install)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), '.mim',
                    'model-index.yml')
    return path if osp.isfile(path) else None


def register_tec_models() -> bool:
    """Add the TEC models to MMPretrain's ``ModelHub`` (once)."""
    global _registered
    if _registered:
        return True
    path = find_model_index()
    if path is None:
        return False
    ModelHub.register_model_index(path, config_prefix=osp.dirname(path))
    _registered = True
    return True
