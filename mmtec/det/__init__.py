"""Detection transfer: ViTDet-style modules in MMDetection's registries
(``custom_imports=dict(imports=['mmtec.det'])``)."""
from .layer_decay_optim_constructor import ViTDetLayerDecayOptimizerConstructor
from .simple_feature_pyramid import SimpleFeaturePyramid
from .vitdet_backbone import ViTDetBackbone

__all__ = [
    'ViTDetBackbone', 'SimpleFeaturePyramid',
    'ViTDetLayerDecayOptimizerConstructor'
]
