"""Detection transfer: ViTDet-style modules in MMDetection's registries.

Import this package (``custom_imports=dict(imports=['mmtec.det'])``) to
register ``ViTDetBackbone``, ``SimpleFeaturePyramid``, ``LN2d`` and
``ViTDetLayerDecayOptimizerConstructor`` with MMDetection.
"""
from .layer_decay_optim_constructor import (
    ViTDetLayerDecayOptimizerConstructor,
    get_vit_layer_id,
)
from .simple_feature_pyramid import SimpleFeaturePyramid
from .vitdet_backbone import (
    RelPosAttention,
    ViTDetBackbone,
    ViTDetBlock,
    decomposed_rel_pos_bias,
    get_rel_pos,
    window_partition,
    window_unpartition,
)

__all__ = [
    'ViTDetBackbone', 'ViTDetBlock', 'RelPosAttention',
    'SimpleFeaturePyramid', 'ViTDetLayerDecayOptimizerConstructor',
    'get_vit_layer_id', 'window_partition', 'window_unpartition',
    'get_rel_pos', 'decomposed_rel_pos_bias'
]
