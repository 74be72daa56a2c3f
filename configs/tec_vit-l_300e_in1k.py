# TEC ViT-L/16, 300 epochs on MAE ViT-L/16 (1600 ep), tau 1.4, decoder
# width 768. Paper: 86.5 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    backbone=dict(arch='l'),
    neck=dict(embed_dims=768),
    target_generator=dict(
        # MAE's released ViT-L/16 (1600 epochs)
        checkpoint='https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_large.pth',
        arch='l',
        topk=15),
    head=dict(loss_attention=dict(tau=1.4)))

train_cfg = dict(max_epochs=300)

# the base's own pretraining compute, for compute.json (ComputeRecordHook)
base_model_compute = dict(
    name='MAE ViT-L 1600 ep',
    checkpoint=model['target_generator']['checkpoint'],
    pretraining_pflops_estimate=249226,
    source="estimate (configs/tec/metafile.yml): FLOPs of one training step per 224 px image counted with FlopCounterMode (MMPretrain's MAE recipe) x 1,281,167 ImageNet-1k images x epochs")
