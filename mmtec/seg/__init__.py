"""Segmentation transfer: registers ``CheckedMAE`` with MMSegmentation
(``custom_imports=dict(imports=['mmtec.seg'])``); the rest of the recipe is
MMSegmentation's own."""
from .checked_mae import CheckedMAE

__all__ = ['CheckedMAE']
