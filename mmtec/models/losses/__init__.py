from .tec_losses import AttentionMapLoss, PatchNormFeatureLoss

__all__ = ['AttentionMapLoss', 'PatchNormFeatureLoss']
