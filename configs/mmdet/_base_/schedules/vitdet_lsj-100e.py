# ViTDet schedule: 100 epochs of COCO at batch 64 = 184375 iterations,
# lr x0.1 at 88.9% and 96.3%, 250 warm-up iterations, AdamW (lr 1e-4,
# wd 0.1), layer-wise lr decay over the ViT, mixed precision.
max_iters = 184375
interval = 5000
dynamic_intervals = [(max_iters // interval * interval + 1, max_iters)]

train_cfg = dict(
    # MMEngine's IterBasedTrainLoop, but --resume skips the trained images by
    # sampler index instead of loading them again (registered by mmtec)
    type='mmpretrain.ResumableIterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=interval,
    dynamic_intervals=dynamic_intervals)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='ViTDetLayerDecayOptimizerConstructor',
    # decay_rate: 0.7 for ViT-B (12 blocks), 0.8 for ViT-L (24 blocks)
    paramwise_cfg=dict(num_layers=12, decay_rate=0.7),
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1))

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=250),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[163889, 177546],
        gamma=0.1)
]

# 16 GPUs x 4 images; --auto-scale-lr rescales lr for other batch sizes
auto_scale_lr = dict(base_batch_size=64)
