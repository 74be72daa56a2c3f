# TEC ViT-B/16, 300 epochs on the iBOT ViT-B/16 teacher. Paper: 84.8 top-1.
_base_ = './tec_vit-b_ibot-base_800e_in1k.py'

train_cfg = dict(max_epochs=300)
