# TEC ViT-B/16, 800 epochs, base model: MAE ViT-B/16 pretrained 1600 epochs,
# from MAE's release. Paper: 84.8 top-1 after fine-tuning.
# Another base is one option away, e.g. a released TEC model as the base of
# the next one (its model-zoo name, resolved to the URL in model-index.yml):
#   --cfg-options model.target_generator.checkpoint=tec_vit-base-p16_mae-1600e-base_800e_in1k
_base_ = [
    '_base_/models/tec_vit-b.py',
    '_base_/datasets/imagenet_bs256_tec.py',
    '_base_/schedules/adamw_tec.py',
    '_base_/default_runtime.py',
]
model = dict(
    target_generator=dict(
        # MAE's release (downloaded once into torch hub's cache)
        checkpoint='https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth',
        topk=15,
        # the frozen base runs in bf16 without per-step weight casts where
        # the machine has native bf16 (CUDA, AVX512-BF16/AMX CPUs), else fp32
        weights_dtype='auto'))

# 40 warm-up epochs, then cosine to 0 at the last epoch
# (_base_/schedules/adamw_tec.py)
train_cfg = dict(max_epochs=800)

# the base's own pretraining compute, for compute.json (ComputeRecordHook)
base_model_compute = dict(
    name='MAE ViT-B 1600 ep',
    checkpoint=model['target_generator']['checkpoint'],
    pretraining_pflops_estimate=115349,
    source="estimate (configs/tec/metafile.yml): FLOPs of one training step per 224 px image counted with FlopCounterMode (MMPretrain's MAE recipe) x 1,281,167 ImageNet-1k images x epochs")
