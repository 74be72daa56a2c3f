# The demo's TEC stage: mmtec's TEC components (the ViT-B model file, scaled
# down) on top of the MAE base above, same data and schedule.
_base_ = [
    '../../../configs/_base_/models/tec_vit-b.py', './fmnist_pretrain.py'
]

vit = dict(
    _delete_=True,
    embed_dims=192,
    num_layers=6,
    num_heads=3,
    feedforward_channels=768)
model = dict(
    backbone=dict(arch=vit, img_size=28, patch_size=4),
    neck=dict(embed_dims=128, num_heads=4),
    # ImageNet's topk 15 of 196 patches is ~8%; 5 of 49 here
    target_generator=dict(
        # the MAE checkpoint written by the demo's first stage (the demo and
        # the study pass theirs with --cfg-options)
        checkpoint='work_dirs/demo/mae/epoch_6.pth',
        arch=vit,
        topk=5))

# only the new model's parameters are optimised (the base model is frozen)
optim_wrapper = dict(constructor='TrainableParamsOptimWrapperConstructor')
