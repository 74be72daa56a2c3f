# TEC ViT-L/16, 300 epochs on MAE ViT-L/16 (1600 ep), tau 1.4, decoder
# width 768. Paper: 86.5 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    backbone=dict(arch='l', num_adapters=8, adapter_hidden_dims=4 * 768),
    neck=dict(in_channels=1024, embed_dims=768),
    target_generator=dict(
        checkpoint='checkpoints/mae_pretrain_vit_large.pth', arch='l',
        topk=15),
    head=dict(loss_attention=dict(tau=1.4)))

max_epochs = 300
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, eta_min=0.,
         by_epoch=True, begin=40, end=max_epochs,
         convert_to_iter_based=True)
]
