# The demo's base model: MMPretrain's own MAE (MAEViT encoder, MAE decoder and
# pixel head) with a small ViT (width 192, depth 6, 3 heads, patch 4 -> 7x7
# patches on 28x28 Fashion-MNIST), normalised-pixel targets.
_base_ = ['./fmnist_pretrain.py']

vit = dict(
    embed_dims=192, num_layers=6, num_heads=3, feedforward_channels=768)
model = dict(
    type='MAE',
    backbone=dict(
        type='MAEViT', arch=vit, img_size=28, patch_size=4, mask_ratio=0.75),
    neck=dict(
        type='MAEPretrainDecoder',
        num_patches=49,
        patch_size=4,
        in_chans=3,
        embed_dim=192,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4,
        mlp_ratio=4.),
    head=dict(
        type='MAEPretrainHead',
        norm_pix=True,
        patch_size=4,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
