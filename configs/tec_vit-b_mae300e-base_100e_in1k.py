# TEC ViT-B/16, 100 epochs on an MAE ViT-B/16 pretrained for only 300 epochs.
# Paper: 83.9 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        checkpoint='checkpoints/mae_pretrain_vit_base_300ep.pth'))

train_cfg = dict(max_epochs=100)
default_hooks = dict(checkpoint=dict(interval=10))
