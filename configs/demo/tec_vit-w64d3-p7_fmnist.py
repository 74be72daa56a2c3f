# TEC for the sustainability study: mmtec's TEC components (the ViT-B model
# file, scaled down like configs/demo/mae_vit-w64d3-p7_fmnist.py) on that
# MAE base; same data, batch and optimiser.
_base_ = ['../_base_/models/tec_vit-b.py', './fmnist_pretrain.py']

vit = dict(
    _delete_=True,
    embed_dims=64,
    num_layers=3,
    num_heads=2,
    feedforward_channels=256)
model = dict(
    backbone=dict(arch=vit, img_size=28, patch_size=7),
    neck=dict(embed_dims=64, num_layers=1, num_heads=2),
    # ImageNet's topk 15 of 196 patches is ~8%; 2 of 16 here
    head=dict(loss_attention=dict(tau=1.8)),
    target_generator=dict(
        # the study passes its base checkpoint with --cfg-options
        checkpoint='work_dirs/sustainability/seed0/base/epoch_1.pth',
        arch=vit,
        topk=2))

# only the new model's parameters are optimised (the base model is frozen)
optim_wrapper = dict(
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(lr=1.5e-3))
# the base's data and batch (configs/demo/mae_vit-w64d3-p7_fmnist.py)
train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.4, 1.0),
        backend='cv2',
        interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=512,
    dataset=dict(num_per_class=None, pipeline=train_pipeline))
auto_scale_lr = dict(base_batch_size=512, enable=False)
