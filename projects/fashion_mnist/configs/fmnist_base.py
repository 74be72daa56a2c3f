# What every config of this project shares: Fashion-MNIST's train and test
# splits from Debian's dataset-fashion-mnist package (LocalFashionMNIST),
# 28x28 gray images with the channel repeated to RGB (so MMPretrain's RGB
# ViTs and TEC's base-model loader apply unchanged), normalised with the
# Fashion-MNIST mean/std; and the runtime of CPU runs of a few epochs.
# Children set the preprocessor type, pipelines, batch sizes and subsets.
_base_ = ['../../../configs/_base_/default_runtime.py']

# fmnist_lab (this project's package, projects/fashion_mnist on the Python
# path) registers LocalFashionMNIST
custom_imports = dict(
    imports=['mmtec', 'fmnist_lab'], allow_failed_imports=False)

data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02], to_rgb=False)
test_pipeline = [dict(type='PackInputs')]

# 28 px images are cheap to read and crop; workers would only compete
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='LocalFashionMNIST', data_root=data_root,
                 split='train'))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LocalFashionMNIST',
        data_root=data_root,
        split='test',
        num_per_class=None,  # the whole 10,000-image test split
        pipeline=test_pipeline))

# a log line every 20 iterations, a checkpoint every epoch, the newest kept
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1))
