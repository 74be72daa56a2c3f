# A tiny version of the ViT-B recipe for CPU tests: same components and
# schedule, small widths and 32 px images.
_base_ = '../../configs/tec_vit-b_800e_in1k.py'

tiny = dict(
    _delete_=True, embed_dims=64, num_layers=3, num_heads=4,
    feedforward_channels=128)
model = dict(
    backbone=dict(arch=tiny, img_size=32, patch_size=8),
    neck=dict(embed_dims=32, num_heads=4),
    # fp32 base on every machine: tests compare exact numbers
    target_generator=dict(arch=tiny, topk=5, weights_dtype='float32'))

train_pipeline = [
    dict(type='LoadImageOrSkip', imdecode_backend='pillow',
         color_type='color_ignore_orientation'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs', algorithm_keys=['skipped_images'])
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    # the tests' 20-image folders keep each rank's last, smaller batch
    # (the recipes drop it, as the authors' loader)
    drop_last=False,
    dataset=dict(pipeline=train_pipeline))
default_hooks = dict(logger=dict(interval=1))
