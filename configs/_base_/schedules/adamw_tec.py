# TEC's optimisation, as the authors' main_pretrain.py: AdamW (0.9, 0.95),
# blr 1.5e-4 for each 256 images of the effective batch (256/GPU x 8 GPUs x
# 2 accumulation steps = 4096), weight decay 0.05 by timm 0.3.2's
# add_weight_decay: none on 1-D parameters (norms, biases) and on `.bias`,
# all the others decayed, the class token and the decoder mask tokens
# included; the fixed sin-cos position embeddings are not trained.
# bf16 autocast where the GPU has it (fp16 on GPUs without bf16, see
# mmtec.run_config.adapt; fp32 on CPU) and the fused AdamW kernel; the authors
# ran fp16 with a dynamic loss scale: optim_wrapper.dtype=float16.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    accumulative_counts=2,
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
        weight_decay=0.05, fused=True),
    paramwise_cfg=dict(bias_decay_mult=0., flat_decay_mult=0.))

# the lr of MAE's/TEC's adjust_learning_rate: set per accumulation window
# from the fractional epoch, 0 -> peak over 40 warm-up epochs, then cosine to
# 0 at train_cfg.max_epochs (the recipes change only the epochs)
param_scheduler = [
    dict(type='WarmupCosineLR', warmup_epochs=40, eta_min=0., by_epoch=True,
         convert_to_iter_based=True)
]

# EpochBasedTrainLoop that resumes in the middle of an epoch where it was
# left (iteration checkpoints, preemption)
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

# lr above is for an *effective* batch of 4096. tools/train.py scales it by
# world_size x batch_size x accumulative_counts / 4096 (MMEngine alone
# ignores gradient accumulation).
auto_scale_lr = dict(base_batch_size=4096, enable=True)
