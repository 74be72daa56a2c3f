# Augmentation, batch and schedule of the laptop-scale demo's self-supervised
# pretraining on (a class-balanced subset of) Fashion-MNIST train, on the
# CPU.
_base_ = ['./fmnist_base.py']
from mmtec.engine.lr_schedule import warmup_cosine_lr  # noqa: E402

data_preprocessor = dict(type='SelfSupDataPreprocessor')

# MAE/TEC augmentation at 28 px. The crop keeps >= 40% of the area (MAE on
# ImageNet: 20%) because Fashion-MNIST objects fill the small frame.
train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.4, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs')
]
# batch 32: in runs of a few hundred steps more (smaller) steps learn more;
# measured on this demo (3 MAE epochs, 5k images, kNN top-1 on 2k test
# images): batch 32 / lr 1e-3: 69.0, 64 / 8e-4: 67.8, 64 / 1.5e-3: 66.4,
# 128 / 4e-3: 57.7 (a randomly initialised ViT: 56.4).
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        num_per_class=500,  # 5,000 images; None for all 60,000
        pipeline=train_pipeline))
test_dataloader = None  # pretraining has no test loop

# AdamW as in MAE/TEC; a higher lr than the ImageNet recipes' 1.5e-4 per
# 256 images because the runs are a few hundred steps long.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

# one warm-up epoch then cosine to 0 at train_cfg.max_epochs
param_scheduler = warmup_cosine_lr(warmup_epochs=1, start_factor=1e-3)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6)
auto_scale_lr = dict(base_batch_size=32, enable=False)
