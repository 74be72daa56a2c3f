# The sustainability study's base model (projects/fashion_mnist/tools/
# sustainability_study.py): MMPretrain's own MAE with a deliberately small
# ViT (width 64, depth 3, 2 heads, patch 7 -> 4x4 = 16 patches on 28x28), so
# that it can be trained to saturation on all 60,000 Fashion-MNIST training
# images on a 2-core CPU. 16 patches at 75% masking leave 4 visible tokens.
_base_ = ['./fmnist_study_pretrain.py']

vit = dict(embed_dims=64, num_layers=3, num_heads=2, feedforward_channels=256)
model = dict(
    type='MAE',
    backbone=dict(
        type='MAEViT', arch=vit, img_size=28, patch_size=7, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=16,
        patch_size=7,
        in_chans=3,
        embed_dim=64,
        decoder_embed_dim=64,
        decoder_depth=1,
        decoder_num_heads=2,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=7,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

