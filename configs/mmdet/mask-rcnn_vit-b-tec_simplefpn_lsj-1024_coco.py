# Mask R-CNN with a TEC-pretrained plain ViT-B (ViTDet recipe): windowed
# attention (14x14) with 4 global blocks, decomposed relative position bias,
# simple feature pyramid, LSJ 1024, 100 epochs, layer decay 0.7.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/datasets/coco-instance_lsj-1024.py',
    './_base_/schedules/vitdet_lsj-100e.py',
]
custom_imports = dict(imports=['mmtec.det'], allow_failed_imports=False)

# The pretrained backbone: a plain ViT in the canonical MMPretrain layout or
# converted with `tools/model_converters/tec2vit.py --layout mmdet`
# (mmtec.converters.canonical_to_mmdet). Override on the command line with
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/ckpt.pth
backbone_checkpoint = 'checkpoints/tec_vit-b_mmdet.pth'

image_size = (1024, 1024)
norm_cfg = dict(type='LN2d', requires_grad=True)

model = dict(
    data_preprocessor=dict(
        # zero-pad (after normalisation) every image to the 1024 square
        # canvas, in training and testing, as ViTDet does
        pad_size_divisor=image_size[0],
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
        ]),
    backbone=dict(
        _delete_=True,
        type='ViTDetBackbone',
        img_size=image_size[0],
        patch_size=16,
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        qkv_bias=True,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        use_rel_pos=True,
        pretrain_img_size=224,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        norm_cfg=norm_cfg),
    # ViTDet heads: 2-conv RPN, 4conv1fc box head and mask head with LN
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12, decay_rate=0.7))

# iteration-based logging/checkpointing for the iteration schedule
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        # crash-safe saves; registered in MMPretrain's scope by mmtec
        type='mmpretrain.AtomicCheckpointHook',
        by_epoch=False,
        save_last=True,
        interval=5000,
        max_keep_ckpts=5))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# on SIGTERM or SIGUSR1 (Slurm, Kubernetes): finish the iteration, save
# preempted_iter_<N>.pth, exit with code 75 (requeue, then --resume)
custom_hooks = [dict(type='mmpretrain.PreemptionHook')]
