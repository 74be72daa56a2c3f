# TEC ViT-B/16, 800 epochs, base model: MAE ViT-B/16 pretrained 1600 epochs
# (mae_pretrain_vit_base.pth). Paper: 84.8 top-1 after fine-tuning.
_base_ = [
    '_base_/models/tec_vit-b.py',
    '_base_/datasets/imagenet_bs256_tec.py',
    '_base_/schedules/adamw_tec.py',
    '_base_/default_runtime.py',
]
from mmtec.engine.lr_schedule import warmup_cosine_lr  # noqa: E402

model = dict(
    target_generator=dict(
        checkpoint='checkpoints/mae_pretrain_vit_base.pth', topk=15,
        # the frozen base runs in bf16 without per-step weight casts where
        # the machine has native bf16 (CUDA, AVX512-BF16/AMX CPUs), else fp32
        weights_dtype='auto'))

train_cfg = dict(max_epochs=800)
# 40 warm-up epochs, then cosine to 0 at train_cfg.max_epochs (the recipes
# below change only the epochs)
param_scheduler = warmup_cosine_lr(warmup_epochs=40, start_factor=1e-4)
