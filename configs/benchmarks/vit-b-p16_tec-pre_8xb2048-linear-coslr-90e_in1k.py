# Linear probe of a TEC ViT-B/16, MAE's protocol: frozen backbone, class
# token after the final norm, BatchNorm without affine before the linear
# layer, LARS, batch 16384 (8 x 2048), 90 epochs.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'
custom_imports = dict(imports=['mmtec'], allow_failed_imports=False)

# the released weights; any layout mmtec reads works (model.backbone.init_cfg)
pretrained = ('https://github.com/sail-sg/TEC/releases/download/weights/'
              'tec_mae_vitb_800ep.pth')
model = dict(
    type='TECImageClassifier',
    backbone=dict(
        type='PretrainedVisionTransformer',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='ClsBatchNormNeck', input_features=768, affine=False))
auto_scale_lr = dict(base_batch_size=16384)
# crash-safe saves (mmtec.engine.hooks), MMPretrain's interval and keep
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
