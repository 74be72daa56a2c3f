# TEC ViT-B/16, 300 epochs on OpenAI's CLIP ViT-B/16 image tower as the base.
# Not in the paper: no result to compare with.
# The file is OpenAI's weights in OpenCLIP's layout, the one open_clip itself
# downloads for create_model('ViT-B-16', pretrained='openai') (visual.* and
# the text tower; pre-norm, no patch bias, LayerNorm eps 1e-5): the file says
# what it is (arch None), except the activation: OpenAI's models use
# QuickGELU (LAION's OpenCLIP models GELU, quick_gelu=False), which no file
# records, hence quick_gelu=True.
# topk / tau: the paper gives none for this base. CLIP's image-level
# contrastive objective does not train localised class-token attention as
# DINO/iBOT's self-distillation does, so it keeps the paper's MAE-base
# setting (topk 15, tau 1.8); no search was run.
# The base sees the new model's input normalisation (ImageNet mean/std), not
# CLIP's own.
_base_ = './tec_vit-b_800e_in1k.py'

model = dict(
    target_generator=dict(
        checkpoint='https://huggingface.co/timm/vit_base_patch16_clip_224.openai/resolve/main/open_clip_pytorch_model.bin',
        arch=None,
        quick_gelu=True,
        topk=15),
    head=dict(loss_attention=dict(tau=1.8)))

train_cfg = dict(max_epochs=300)

# its own pretraining compute is not known (ComputeRecordHook)
base_model_compute = None
