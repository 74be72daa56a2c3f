# TEC ViT-B/16, 800 epochs, base model: MAE ViT-B/16 pretrained 1600 epochs
# (mae_pretrain_vit_base.pth). Paper: 84.8 top-1 after fine-tuning.
_base_ = [
    '_base_/models/tec_vit-b.py',
    '_base_/datasets/imagenet_bs256_tec.py',
    '_base_/schedules/adamw_coslr_tec.py',
    '_base_/default_runtime.py',
]

model = dict(
    target_generator=dict(
        checkpoint='checkpoints/mae_pretrain_vit_base.pth', topk=15,
        # the frozen base runs in bf16 without per-step weight casts (fp32
        # on CPU, see mmtec.utils.launch)
        weights_dtype='bfloat16'),
    head=dict(loss_attention=dict(tau=1.8)))

max_epochs = 800
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, eta_min=0.,
         by_epoch=True, begin=40, end=max_epochs,
         convert_to_iter_based=True)
]
