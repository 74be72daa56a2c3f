# Frozen-feature evaluation on Fashion-MNIST (tools/analysis_tools/
# knn_eval.py, tools/demo.py, projects/fashion_mnist/tools/study.py): the kNN
# bank / linear-probe training set is train_dataloader.dataset, read with the
# test pipeline; the queries are test_dataloader.dataset.
default_scope = 'mmpretrain'
custom_imports = dict(
    imports=['mmtec', 'mmtec.datasets'], allow_failed_imports=False)

data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    num_classes=10,
    mean=[72.94, 72.94, 72.94],
    std=[90.02, 90.02, 90.02],
    to_rgb=False)
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LocalFashionMNIST',
        data_root=data_root,
        split='train',
        num_per_class=500,  # the bank: 5,000 labelled train images
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LocalFashionMNIST',
        data_root=data_root,
        split='test',
        num_per_class=None,  # the whole 10,000-image test split
        pipeline=test_pipeline))
