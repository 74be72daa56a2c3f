# Data and optimiser shared by the sustainability study's MAE base and TEC
# ({mae,tec}_vit-w64d3-p7_fmnist.py here): all 60,000 images, batch
# 512 (few, large steps: the CPU's per-step overhead); OpenCV's crop +
# bilinear resize costs 2/3 of Pillow's bicubic.
_base_ = ['./fmnist_pretrain.py']

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
optim_wrapper = dict(optimizer=dict(lr=1.5e-3))
auto_scale_lr = dict(base_batch_size=512, enable=False)
