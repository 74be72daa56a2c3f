# Fine-tune TEC ViT-B/16 pretrained 800 epochs on an iBOT base: layer decay
# 0.55. Paper: 85.1 top-1.
_base_ = './vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py'

pretrained = 'checkpoints/tec_ibot_vitb_800ep.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
