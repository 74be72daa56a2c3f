# TEC's optimisation: AdamW (0.9, 0.95), wd 0.05 except biases, norms,
# tokens and position embeddings; blr 1.5e-4 for each 256 images of the
# effective batch (256/GPU x 8 GPUs x 2 accumulation steps = 4096).
# bf16 autocast (fp16 on GPUs without bf16, see mmtec.utils.launch; fp32
# on CPU) and the fused AdamW kernel.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    accumulative_counts=2,
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
        weight_decay=0.05, fused=True),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))

# the epochs are the recipe's; the lr schedule is
# mmtec.engine.lr_schedule.warmup_cosine_lr, set in the recipes
# EpochBasedTrainLoop that resumes in the middle of an epoch where it was
# left (iteration checkpoints, preemption)
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

# lr above is for an *effective* batch of 4096. tools/train.py scales it by
# world_size x batch_size x accumulative_counts / 4096 (MMEngine alone
# ignores gradient accumulation).
auto_scale_lr = dict(base_batch_size=4096, enable=True)
