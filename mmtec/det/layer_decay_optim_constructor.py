"""Layer-wise learning-rate decay for a plain ViT inside a detector (the
MMDetection package has none for a ViT: ViTDet's is in its ``projects/``;
MMPretrain's needs a ``get_layer_depth`` of the whole model)."""
import re
from typing import List

import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor


def get_vit_layer_id(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer decay, as ViTDet counts it: the stem
    (``backbone.patch_embed``/``pos_embed``/``cls_token``) 0, block ``i``
    ``i + 1``, everything else ``num_layers + 1``.

    Args:
        name (str): The parameter's name in the detector.
        num_layers (int): Depth of the ViT.
    """
    if name.startswith(('backbone.patch_embed', 'backbone.pos_embed',
                        'backbone.cls_token')):
        return 0
    m = re.match(r'^backbone\.layers\.(\d+)\.', name)
    if m:
        return int(m.group(1)) + 1
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTDetLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer with layer-wise lr decay over a plain-ViT backbone.

    A parameter at depth ``d`` (:func:`get_vit_layer_id`) gets
    ``lr * decay_rate ** (num_layers + 1 - d)`` (ViTDet: 0.7 for ViT-B, 0.8
    for ViT-L). One-dimensional parameters, the absolute position table and
    the class token get no weight decay; the relative position tables do,
    as in ViTDet.

    Args:
        optim_wrapper_cfg (dict): Optim wrapper config (``optimizer`` with
            ``lr`` and ``weight_decay``).
        paramwise_cfg (dict): ``num_layers`` (ViT depth) and ``decay_rate``
            (``layer_decay_rate`` is accepted as an alias).
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        """Fill ``params`` with one group per (depth, weight decay)."""
        num_layers = self.paramwise_cfg['num_layers']
        decay_rate = self.paramwise_cfg.get(
            'decay_rate', self.paramwise_cfg.get('layer_decay_rate'))
        assert decay_rate is not None, 'paramwise_cfg needs decay_rate'
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_wd = param.ndim <= 1 or name.endswith(
                ('.pos_embed', '.cls_token'))
            layer_id = get_vit_layer_id(name, num_layers)
            key = f'layer_{layer_id}_{"no_decay" if no_wd else "decay"}'
            if key not in groups:
                scale = decay_rate**(num_layers + 1 - layer_id)
                groups[key] = dict(
                    params=[],
                    param_names=[],
                    lr=self.base_lr * scale,
                    lr_scale=scale,
                    weight_decay=0. if no_wd else self.base_wd,
                    group_name=key)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        print_log(
            'layer decay groups: ' + ', '.join(
                f'{k}(x{g["lr_scale"]:.4g}, {len(g["params"])} params)'
                for k, g in sorted(groups.items())),
            logger='current')
        params.extend(groups.values())
