# The ViT-B linear-probe recipe at test size (tiny ViT, 32 px, 10 classes).
_base_ = [
    '../../configs/benchmarks/vit-b-p16_tec-pre_8xb2048-linear-coslr-90e_in1k.py'
]

tiny = dict(
    _delete_=True, embed_dims=64, num_layers=3, num_heads=4,
    feedforward_channels=128)
model = dict(
    backbone=dict(arch=tiny, img_size=32, patch_size=8, frozen_stages=3),
    neck=dict(input_features=64),
    head=dict(num_classes=10, in_channels=64))
data_preprocessor = dict(num_classes=10)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=36, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, drop_last=True,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='',
                 data_prefix='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='',
                 data_prefix='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
