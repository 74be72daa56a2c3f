# Fine-tune TEC ViT-B/16 (800 epochs on an MAE ViT-B base) on ImageNet-1k as
# the authors did (sail-sg/TEC README, main_finetune.py):
#   --mlp_token --batch_size 128 --accum_iter 1 (8 GPUs) --epochs 100
#   --blr 5e-4 --layer_decay 0.55 --warmup_epochs 20 (--min_lr 1e-6)
#   --weight_decay 0.05 --drop_path 0.1 --mixup 0.8 --cutmix 1.0 --reprob 0.25
# Paper: 84.8 top-1. The other fine-tuning configs inherit this one and
# restate its recipe block with their own values.
#
# The model (TEC's models_vit.py): global average pooling + fc_norm, the
# position embedding fixed (sin-cos, not trained), the class token and the
# input adapter in the top layer-decay group, no weight decay on 1-D
# parameters, the class token and the position embedding. The released
# weights named below are a plain ViT (the input adapter already merged into
# the class token). To fine-tune the adapter itself, as the authors did, start
# from a raw pretraining checkpoint (TEC's checkpoint-799.pth or mmtec's
# epoch_800.pth):
#   --cfg-options model.backbone.input_adapter=True \
#       model.backbone.init_cfg.checkpoint=work_dirs/tec_vit-b_800e_in1k/epoch_800.pth
# Options the authors did not use (off here): gradient clipping
# (optim_wrapper.clip_grad.max_norm=3.0, e.g. against fp16 NaNs), activation
# checkpointing (model.backbone.with_cp=True: less memory for ViT-L/H).
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['mmtec'], allow_failed_imports=False)

pretrained = ('https://github.com/sail-sg/TEC/releases/download/weights/'
              'tec_mae_vitb_800ep.pth')

model = dict(
    type='TECImageClassifier',
    backbone=dict(
        type='PretrainedVisionTransformer',
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        fixed_pos_embed=True,
        input_adapter=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# --- the recipe: the authors' command; every fine-tuning config restates
# these lines and the lines from train_dataloader to auto_scale_lr below
gpus, batch_size, accum_iter = 8, 128, 1
epochs, blr, layer_decay, warmup_epochs, min_lr = 100, 5e-4, 0.55, 20, 1e-6
lr = blr * gpus * batch_size * accum_iter / 256

# AdamW (0.9, 0.999), wd 0.05 from MMPretrain's MAE recipe. bf16 autocast as
# the pretraining recipes (fp16 with dynamic loss scaling, as the authors ran
# it, is optim_wrapper.dtype=float16; fp32 on CPU).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    accumulative_counts=accum_iter,
    optimizer=dict(lr=lr),
    # TEC's param_groups_lrd: no decay on 1-D parameters, cls_token and
    # pos_embed; layer depths from PretrainedVisionTransformer
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=layer_decay,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))

# MMPretrain's MAE fine-tuning pipelines (timm's rand-m9-mstd0.5-inc1,
# random erasing 0.25), decoded as the authors' ImageFolder does: PIL, no
# EXIF rotation (as the pretraining recipes)
load_as_pil = dict(type='LoadImageFromFile', imdecode_backend='pillow',
                   color_type='color_ignore_orientation')
train_pipeline = [
    load_as_pil,
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3,
         fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    load_as_pil,
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# the authors' loader drops the last incomplete batch
train_dataloader = dict(batch_size=batch_size, drop_last=True,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    # the authors' adjust_learning_rate: linear from 0 over the warm-up, then
    # half-cosine to min_lr, set per update from the fractional epoch, each
    # layer-decay group scaled by its lr_scale (min_lr included)
    dict(type='WarmupCosineLR', warmup_epochs=warmup_epochs, eta_min=min_lr,
         by_epoch=True, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=epochs)
auto_scale_lr = dict(base_batch_size=gpus * batch_size * accum_iter)

# crash-safe saves (mmtec.engine.hooks), MMPretrain's interval and keep
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
