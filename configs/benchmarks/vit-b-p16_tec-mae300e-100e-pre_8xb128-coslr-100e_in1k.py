# Fine-tune TEC ViT-B/16 (100 epochs on an MAE ViT-B base pretrained only
# 300 epochs) as the authors did: --batch_size 128 --accum_iter 1
# --epochs 100 --blr 5e-4 --layer_decay 0.65 (--warmup_epochs 5, the
# default). Paper: 83.9 top-1.
_base_ = './vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py'

pretrained = ('https://github.com/sail-sg/TEC/releases/download/weights/'
              'tec_mae300ep_vitb_100ep.pth')
model = dict(
    backbone=dict(init_cfg=dict(checkpoint=pretrained)))

# --- the recipe: the authors' command (see the base config)
gpus, batch_size, accum_iter = 8, 128, 1
epochs, blr, layer_decay, warmup_epochs, min_lr = 100, 5e-4, 0.65, 5, 1e-6
lr = blr * gpus * batch_size * accum_iter / 256
train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(
    accumulative_counts=accum_iter,
    optimizer=dict(lr=lr),
    paramwise_cfg=dict(layer_decay_rate=layer_decay))
param_scheduler = [
    # the authors' adjust_learning_rate: linear from 0 over the warm-up, then
    # half-cosine to min_lr, set per update from the fractional epoch, each
    # layer-decay group scaled by its lr_scale (min_lr included)
    dict(type='WarmupCosineLR', warmup_epochs=warmup_epochs, eta_min=min_lr,
         by_epoch=True, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=epochs)
auto_scale_lr = dict(base_batch_size=gpus * batch_size * accum_iter)
