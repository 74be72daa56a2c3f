# Fine-tune TEC ViT-B/16 pretrained 300 epochs on an iBOT base: layer decay
# 0.65 and 5 warm-up epochs. Paper: 84.8 top-1.
_base_ = './vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py'

pretrained = 'checkpoints/tec_ibot_vitb_300ep.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.65))

warmup_epochs = 5
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True)
]
