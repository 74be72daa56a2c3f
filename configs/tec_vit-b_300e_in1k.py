# TEC ViT-B/16, 300 epochs on MAE ViT-B/16 (1600 ep). Paper: 84.7 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

train_cfg = dict(max_epochs=300)
