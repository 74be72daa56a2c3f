"""ViTDet's simple feature pyramid, built from the last (stride 16) map."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule

# MMDetection 3.3 has no channels-first LayerNorm and does not search
# MMPretrain's registry: register MMPretrain's for the neck and RoI heads
if MODELS.get('LN2d') is None:
    from mmpretrain.models.utils.norm import LayerNorm2d
    MODELS.register_module('LN2d', module=LayerNorm2d)


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Multi-scale features from a single plain-ViT map (ViTDet).

    Scale 4 is two stride-2 deconvolutions (norm and activation between),
    2 one deconvolution, 1 the map itself, 0.5 a 2x2 max-pool; each level
    then passes a 1x1 and a 3x3 conv (normalised, no bias). Extra levels
    subsample the last one by 2, as ViTDet's ``LastLevelMaxPool``.

    Args:
        in_channels (int): Channels of the backbone map.
        out_channels (int): Channels of every output level. Defaults to 256.
        scale_factors (Sequence[float]): Scale of each level relative to the
            input map, of 4, 2, 1, 0.5. Defaults to (4.0, 2.0, 1.0, 0.5).
        num_outs (int): Number of outputs, at least ``len(scale_factors)``.
            Defaults to 5.
        norm_cfg (dict): Norm of the convs. Defaults to ``dict(type='LN2d',
            requires_grad=True)`` (LayerNorm over channels, as ViTDet).
        act_cfg (dict): Activation between the two stride-4 deconvolutions.
            Defaults to GELU.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='LN2d', requires_grad=True),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        assert num_outs >= len(scale_factors)
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        dim = in_channels
        for scale in scale_factors:
            if scale == 4.0:
                layers = [
                    nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
                    build_norm_layer(norm_cfg, dim // 2)[1],
                    build_activation_layer(act_cfg),
                    nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2)
                ]
            elif scale == 2.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, 2, stride=2)]
            elif scale == 1.0:
                layers = []
            elif scale == 0.5:
                layers = [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                raise NotImplementedError(f'scale_factor={scale}')
            out_dim = int(dim // max(scale, 1))
            self.stages.append(nn.Sequential(
                *layers,
                ConvModule(out_dim, out_channels, 1, norm_cfg=norm_cfg,
                           act_cfg=None),
                ConvModule(out_channels, out_channels, 3, padding=1,
                           norm_cfg=norm_cfg, act_cfg=None)))

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Pyramid from ``inputs[-1]``, finest level first."""
        outs = [stage(inputs[-1]) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
