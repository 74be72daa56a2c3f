# TEC ViT-B/16, 300 epochs on DINOv2 ViT-B/14 (without registers) as the base.
# Not in the paper: no result to compare with.
# The file says what it is (width, depth, patch 14, layer scale): arch None.
# The base sees each 224-px image at 196 px (14 x 14 patches of 14, the new
# model's grid), its 518-px position table resized once as DINOv2's
# interpolate_pos_encoding does.
# topk / tau: the paper gives none for this base. DINOv2 is trained with
# DINO's and iBOT's losses, so it takes the paper's iBOT-base setting (topk 9,
# tau 1.0) by analogy; no search was run.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        # DINOv2's release (github.com/facebookresearch/dinov2, hub weights)
        checkpoint='https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth',
        arch=None,
        topk=9),
    head=dict(loss_attention=dict(tau=1.0)))

train_cfg = dict(max_epochs=300)

# its own pretraining compute is not known (ComputeRecordHook)
base_model_compute = None
