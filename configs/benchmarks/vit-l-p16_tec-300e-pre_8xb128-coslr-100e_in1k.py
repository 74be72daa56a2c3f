# Fine-tune TEC ViT-L/16 (300-epoch pretraining on MAE ViT-L): 100 epochs,
# layer decay 0.65 (300-epoch model), drop path 0.1. Paper: 86.5 top-1.
_base_ = './vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py'

pretrained = 'checkpoints/tec_mae_vitl_300ep.pth'
model = dict(
    backbone=dict(arch='large', init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))
