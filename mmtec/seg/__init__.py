"""Segmentation transfer: UperNet + MAE-style ViT-B on MMSegmentation.

Import this package (``custom_imports=dict(imports=['mmtec.seg'])``) to
register ``CheckedMAE`` (MMSegmentation's ``MAE`` backbone with a checked
pretrained load) in MMSegmentation's registry. Everything else of the recipe
(``Feature2Pyramid``, ``UPerHead``, ``LayerDecayOptimizerConstructor``) is
MMSegmentation's own.
"""
from .checked_mae import CheckedMAE

__all__ = ['CheckedMAE']
