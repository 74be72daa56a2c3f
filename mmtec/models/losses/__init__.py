from .attention_map_loss import AttentionMapLoss
from .patch_norm_feature_loss import PatchNormFeatureLoss

__all__ = ['AttentionMapLoss', 'PatchNormFeatureLoss']
