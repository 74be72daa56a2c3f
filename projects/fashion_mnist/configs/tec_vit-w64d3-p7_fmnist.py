# TEC for the sustainability study: mmtec's TEC components (the ViT-B model
# file, scaled down like mae_vit-w64d3-p7_fmnist.py here) on that
# MAE base; same data, batch and optimiser.
_base_ = [
    '../../../configs/_base_/models/tec_vit-b.py',
    './fmnist_study_pretrain.py'
]

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
    target_generator=dict(
        # the study passes its base checkpoint with --cfg-options
        checkpoint='work_dirs/sustainability/seed0/base/epoch_1.pth',
        arch=vit,
        topk=2))

# only the new model's parameters are optimised (the base model is frozen)
optim_wrapper = dict(constructor='TrainableParamsOptimWrapperConstructor')
