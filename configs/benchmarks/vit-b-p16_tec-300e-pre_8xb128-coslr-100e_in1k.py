# Fine-tune a TEC ViT-B/16 (300- or 100-epoch pretraining): layer decay 0.65.
# Paper: 84.7 (MAE 1600-ep base), 83.9 (MAE 300-ep base, 100 TEC epochs).
_base_ = './vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py'

pretrained = 'checkpoints/tec_mae_vitb_300ep.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))
