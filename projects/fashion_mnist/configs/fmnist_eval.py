# Frozen-feature evaluation on Fashion-MNIST (tools/analysis_tools/
# knn_eval.py, tools/demo.py, projects/fashion_mnist/tools/study.py): the kNN
# bank / linear-probe training set is train_dataloader.dataset, read with the
# test pipeline; the queries are test_dataloader.dataset (only the two
# datasets and the normalisation are read).
_base_ = ['./fmnist_base.py']

data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=10)
train_dataloader = dict(
    batch_size=256,
    dataset=dict(num_per_class=500))  # the bank: 5,000 labelled images
test_dataloader = dict(batch_size=256)
