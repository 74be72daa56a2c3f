# ImageNet-1k in MMPretrain's layout (data/imagenet/train/<class>/*.JPEG).
# Pretraining needs no labels: every image under train/ is read, so a
# smaller folder of the same layout works as well.
dataset_type = 'CustomDataset'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# True: decode and augment JPEGs on the GPU (same crop/flip/normalisation;
# mmtec.run_config.adapt.apply_gpu_decode), falling back to this CPU pipeline without a
# GPU. Off until measured faster end to end (tools/benchmarks/gpu_check.sh).
gpu_decode = False

train_pipeline = [
    # skips (and names) an undecodable file, or one whose header declares
    # more than max_pixels (100 MP); SkippedImagesHook counts them.
    # Decoded as torchvision's ImageFolder does: PIL, convert('RGB'), the
    # EXIF orientation not applied (mmcv's 'color' would rotate the image)
    dict(type='LoadImageOrSkip', max_pixels=100_000_000,
         imdecode_backend='pillow', color_type='color_ignore_orientation'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs', algorithm_keys=['skipped_images'])
]

train_dataloader = dict(
    batch_size=256,  # per GPU
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    # as the authors' DataLoader: 625 iterations per epoch on ImageNet-1k at
    # 8 x 256 (a last, smaller batch would weigh its images more)
    drop_last=True,
    # DefaultSampler's order; each image's crop and flip are drawn from
    # (seed, epoch, index), so workers (persistent or not), num_workers and
    # --resume do not change them (mmtec.datasets.SeededSampler)
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
