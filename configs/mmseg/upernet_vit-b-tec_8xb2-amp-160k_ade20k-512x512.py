# UperNet with a TEC-pretrained ViT-B on ADE20K at 512x512, MMSegmentation's
# own MAE recipe (mae-base_upernet_8xb2-amp-160k_ade20k-512x512): MAE
# backbone (layer scale init 1.0, zero relative position bias, drop path
# 0.1, features of blocks 4/6/8/12), Feature2Pyramid, UPerHead + FCN
# auxiliary head, AdamW lr 1e-4 with layer decay 0.65, 160k iterations,
# 8 GPUs x 2 images, mixed precision. Data: data/ade/ADEChallengeData2016.
_base_ = 'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmtec.seg'], allow_failed_imports=False)

# The pretrained backbone: a plain ViT in the canonical MMPretrain layout or
# converted with `tools/model_converters/tec2vit.py --layout mmseg`
# (mmtec.converters.canonical_to_mmseg). Override on the command line with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/ckpt.pth
backbone_checkpoint = 'checkpoints/tec_vit-b_mmseg.pth'

model = dict(
    pretrained=None,  # the upstream recipe's path; ours goes in init_cfg
    backbone=dict(
        type='CheckedMAE',  # upstream MAE, but a bad checkpoint raises
        norm_cfg=dict(type='LN', eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)))

# MMSegmentation 1.x ignores the recipe's old-style `fp16` field: AMP is
# switched on through the optim wrapper (layer decay settings inherited)
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')

# crash-safe saves; registered in MMPretrain's scope by mmtec
default_hooks = dict(
    checkpoint=dict(type='mmpretrain.AtomicCheckpointHook'))

# MMEngine's IterBasedTrainLoop, but --resume skips the trained images by
# sampler index instead of loading them again (registered by mmtec)
train_cfg = dict(type='mmpretrain.ResumableIterBasedTrainLoop')

# on SIGTERM or SIGUSR1 (Slurm, Kubernetes): finish the iteration, save
# preempted_iter_<N>.pth, exit with code 75 (requeue, then --resume)
custom_hooks = [dict(type='mmpretrain.PreemptionHook')]
