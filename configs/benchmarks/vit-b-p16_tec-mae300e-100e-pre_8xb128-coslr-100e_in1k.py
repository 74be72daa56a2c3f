# Fine-tune TEC ViT-B/16 trained 100 epochs on an MAE base pretrained only
# 300 epochs: layer decay 0.65. Paper: 83.9 top-1.
_base_ = './vit-b-p16_tec-300e-pre_8xb128-coslr-100e_in1k.py'

pretrained = 'checkpoints/tec_mae300ep_vitb_100ep.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
