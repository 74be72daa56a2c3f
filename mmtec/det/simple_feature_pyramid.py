"""ViTDet's simple feature pyramid, built from the last (stride 16) map."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule

# MMDetection 3.3 has no channels-first LayerNorm; MMPretrain's LN2d is
# registered only in MMPretrain's registry, which MMDetection's scope does
# not search. Register the same class for the neck and the RoI heads.
if MODELS.get('LN2d') is None:
    from mmpretrain.models.utils.norm import LayerNorm2d
    MODELS.register_module('LN2d', module=LayerNorm2d)


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Multi-scale features from a single plain-ViT map (ViTDet).

    From the stride-16 map: two stride-2 deconvolutions (with norm and
    activation in between) give stride 4, one deconvolution gives stride 8,
    identity keeps 16 and a 2x2 max-pool gives 32. Each level then passes a
    1x1 and a 3x3 conv (no bias, normalised). Extra levels (P6, ...) are
    stride-2 subsamplings of the last one, as ViTDet's ``LastLevelMaxPool``.

    Args:
        in_channels (int): Channels of the backbone map.
        out_channels (int): Channels of every output level. Defaults to 256.
        scale_factors (Sequence[float]): Resampling of each level relative
            to the input map; supported: 4, 2, 1, 0.5. Defaults to
            (4.0, 2.0, 1.0, 0.5).
        num_outs (int): Number of outputs, at least ``len(scale_factors)``;
            the rest are max-pooled extra levels. Defaults to 5.
        norm_cfg (dict): Norm of the convs (ViTDet: LayerNorm over
            channels). Defaults to ``dict(type='LN2d', requires_grad=True)``.
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
        self.scale_factors = tuple(scale_factors)
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        for scale in self.scale_factors:
            dim = in_channels
            if scale == 4.0:
                layers = [
                    nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
                    build_norm_layer(norm_cfg, dim // 2)[1],
                    build_activation_layer(act_cfg),
                    nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2)
                ]
                dim = dim // 4
            elif scale == 2.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, 2, stride=2)]
                dim = dim // 2
            elif scale == 1.0:
                layers = []
            elif scale == 0.5:
                layers = [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                raise NotImplementedError(f'scale_factor={scale}')
            layers += [
                ConvModule(
                    dim, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=None)
            ]
            self.stages.append(nn.Sequential(*layers))

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Pyramid from ``inputs[-1]``, finest level first."""
        x = inputs[-1]
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
