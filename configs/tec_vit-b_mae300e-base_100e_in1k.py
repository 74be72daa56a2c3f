# TEC ViT-B/16, 100 epochs on an MAE ViT-B/16 pretrained for only 300 epochs.
# Paper: 83.9 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        checkpoint='checkpoints/mae_pretrain_vit_base_300ep.pth'))

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, eta_min=0.,
         by_epoch=True, begin=40, end=max_epochs,
         convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=10))
