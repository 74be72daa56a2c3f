# Fine-tune a TEC ViT-B/16 (800-epoch pretraining) on ImageNet-1k, TEC's
# recipe: 100 epochs, GAP + fc_norm, lr 5e-4 x 1024/256, layer decay 0.55,
# drop path 0.1, mixup 0.8 / cutmix 1.0, random erasing 0.25, label
# smoothing 0.1, 20 warm-up epochs. Paper: 84.8 top-1 (MAE base), 85.1
# (iBOT base). Built on MMPretrain's own MAE fine-tuning config.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['mmtec'], allow_failed_imports=False)

# any layout works: mmtec pretraining checkpoint, TEC released file,
# or tools/model_converters/tec2vit.py output
pretrained = 'checkpoints/tec_mae_vitb_800ep.pth'

model = dict(
    type='TECImageClassifier',
    backbone=dict(
        type='PretrainedVisionTransformer',
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# crash-safe saves (mmtec.engine.hooks), MMPretrain's interval and keep
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))

optim_wrapper = dict(
    optimizer=dict(lr=5e-4 * 1024 / 256),
    paramwise_cfg=dict(layer_decay_rate=0.55))

warmup_epochs = 20
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, eta_min=1e-6,
         convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1024)
