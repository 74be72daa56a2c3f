# ViT-L variant: 24 blocks, global attention in blocks 5/11/17/23, drop
# path 0.4, layer decay 0.8 (ViTDet's ViT-L recipe); rest as ViT-B.
_base_ = './mask-rcnn_vit-b-tec_simplefpn_lsj-1024_coco.py'

backbone_checkpoint = 'checkpoints/tec_vit-l_mmdet.pth'

model = dict(
    backbone=dict(
        embed_dims=1024,
        num_layers=24,
        num_heads=16,
        drop_path_rate=0.4,
        global_attn_indexes=(5, 11, 17, 23),
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    neck=dict(in_channels=1024))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, decay_rate=0.8))
