# TEC ViT-B/16, 800 epochs on the iBOT ViT-B/16 teacher (topk 9, tau 1.0).
# Paper: 85.1 top-1.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        # iBOT ViT-B/16 teacher: the download link of the iBOT README
        # (github.com/bytedance/ibot)
        checkpoint='https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/archive/2022/ibot/vitb_16/checkpoint_teacher.pth',
        topk=9),
    head=dict(loss_attention=dict(tau=1.0)))

# the base's own pretraining compute, for compute.json (ComputeRecordHook)
base_model_compute = dict(
    name='iBOT ViT-B 1600 ep',
    checkpoint=model['target_generator']['checkpoint'],
    pretraining_pflops_estimate=None,
    source='not counted')
