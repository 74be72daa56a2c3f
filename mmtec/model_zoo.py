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
    """``model-index.yml`` of an installed package or a source checkout."""
    pkg = osp.dirname(osp.abspath(__file__))
    for root in (osp.join(pkg, '.mim'), osp.dirname(pkg)):
        path = osp.join(root, 'model-index.yml')
        if osp.isfile(path) and osp.isdir(osp.join(root, 'configs')):
            return path
    return None


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
