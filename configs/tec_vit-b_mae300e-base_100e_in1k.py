# TEC ViT-B/16, 100 epochs on an MAE ViT-B/16 pretrained for only 300 epochs.
# Paper: 83.9 top-1.
# MAE's authors released no 300-epoch model: make the base with MMPretrain's
# MAE recipe for 300 epochs (8 GPUs), which writes the path used below:
#   bash tools/dist_train.sh $(python -c "import mmpretrain, os; \
#       print(os.path.dirname(mmpretrain.__file__))")/.mim/configs/mae/\
#       mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py 8 \
#       --work-dir work_dirs/mae_vit-b_300e
# (MMPretrain's model zoo also holds weights of that recipe, model name
# mae_vit-base-p16_8xb512-amp-coslr-300e_in1k; not the paper's base.)
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        checkpoint='work_dirs/mae_vit-b_300e/epoch_300.pth'))

train_cfg = dict(max_epochs=100)
default_hooks = dict(checkpoint=dict(interval=10))

# the base's own pretraining compute, for compute.json (ComputeRecordHook)
base_model_compute = dict(
    name='MAE ViT-B 300 ep',
    checkpoint=model['target_generator']['checkpoint'],
    pretraining_pflops_estimate=21628,
    source="estimate (configs/tec/metafile.yml): FLOPs of one training step per 224 px image counted with FlopCounterMode (MMPretrain's MAE recipe) x 1,281,167 ImageNet-1k images x epochs")
