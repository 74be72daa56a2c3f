# A contrastive base for the sustainability study: MMPretrain's MoCo v3
# (MoCoV3ViT encoder, projection neck, predictor head, momentum encoder) with
# the same small ViT as mae_vit-w64d3-p7_fmnist.py here (width 64, depth 3,
# 2 heads, patch 7 -> 16 patches on 28x28), same data, batch and lr.
_base_ = ['./fmnist_study_pretrain.py']

# MoCo v3's two asymmetric views, scaled to 28x28 gray images: no hue /
# saturation jitter nor grayscale (one channel repeated), a 1-pixel blur
# range instead of ImageNet's 2 at 224 px.
crop_and_jitter = [
    dict(type='RandomResizedCrop', scale=28, crop_ratio_range=(0.2, 1.0),
         backend='cv2', interpolation='bilinear'),
    dict(type='RandomApply', prob=0.8,
         transforms=[dict(type='ColorJitter', brightness=0.4,
                          contrast=0.4)]),
]
view_pipeline1 = crop_and_jitter + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 1.0),
         magnitude_std='inf', prob=1.),
    dict(type='RandomFlip', prob=0.5),
]
view_pipeline2 = crop_and_jitter + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 1.0),
         magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='MultiView', num_views=[1, 1],
         transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

vit = dict(embed_dims=64, num_layers=3, num_heads=2, feedforward_channels=256)
temperature = 0.2
# the heads scaled like the encoder (ImageNet ViT-S: 384 -> 4096 -> 256)
mlp = dict(with_bias=False, with_last_bn=True, with_last_bn_affine=False,
           with_last_bias=False, with_avg_pool=False)
model = dict(
    type='MoCoV3',
    base_momentum=0.01,
    backbone=dict(type='MoCoV3ViT', arch=vit, img_size=28, patch_size=7,
                  stop_grad_conv1=True),
    neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=256,
              out_channels=64, num_layers=3, **mlp),
    head=dict(
        type='MoCoV3Head',
        predictor=dict(type='NonLinearNeck', in_channels=64,
                       hid_channels=256, out_channels=64, num_layers=2,
                       **mlp),
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * temperature),
        temperature=temperature))

# MoCo v3's weight decay 0.1 and default betas; the study's lr and schedule
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.1, betas=(0.9, 0.999)),
    paramwise_cfg=dict(_delete_=True))
