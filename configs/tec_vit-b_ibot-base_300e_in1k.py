# TEC ViT-B/16, 300 epochs on the iBOT ViT-B/16 teacher. Paper: 84.8 top-1.
_base_ = './tec_vit-b_ibot-base_800e_in1k.py'

max_epochs = 300
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, eta_min=0.,
         by_epoch=True, begin=40, end=max_epochs,
         convert_to_iter_based=True)
]
