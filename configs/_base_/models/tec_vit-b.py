# TEC ViT-B/16 new model on a ViT-B/16 base (MAE recipe: topk 15, and the
# attention loss's default tau, 1.8).
# TEC fills in what follows from these: the decoder's input width and patch
# count and the base model's image and patch size from the backbone, the
# encoder adapter's hidden width (4 x decoder width) from the decoder, the
# decoder's target width and heads from the base model.
model = dict(
    type='TEC',
    use_attention_target=True,
    backbone=dict(
        type='ConditionalAdapterViT',
        arch='b',
        img_size=224,
        patch_size=16,
        mask_ratio=0.75,
        input_adapter=True),  # num_adapters: depth / 3 by default
    neck=dict(
        type='TECDecoder',
        embed_dims=512,
        num_layers=2,
        num_heads=16),
    head=dict(
        type='PatchRelationTargetHead',
        loss_feature=dict(
            type='PatchNormFeatureLoss', norm_dim='patch', loss_weight=1.0),
        loss_attention=dict(type='AttentionMapLoss', loss_weight=1.0)),
    target_generator=dict(
        type='TECTargetGenerator',
        # MAE's released ViT-B/16 (1600 epochs), downloaded once into torch
        # hub's cache; a path, another URL or a model name of
        # mmpretrain.list_models() work too
        checkpoint='https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth',
        arch='b',
        last_layers=2,
        topk=15),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
