"""Tiny ViTs of today's bases, written in their producers' release layouts.

Each is built by the producer's architecture in a real implementation
(timm's DINOv2, DINOv2-with-registers and DeiT-III ViTs; open_clip's CLIP)
with random weights, and written the way the release files are:

- DINOv2 hub files (``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``): a bare
  state dict; ``cls_token``, ``pos_embed`` with a class slot at the release
  grid (518 px there), ``mask_token`` ``[1, C]``, ``register_tokens``
  ``[1, 4, C]`` for ``_reg4``, ``blocks.N.{norm1,attn.qkv,attn.proj,
  ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}`` (ViT-g: ``mlp.w12``,
  ``mlp.w3``), ``norm``;
- OpenCLIP files: ``CLIP.state_dict()`` as open_clip saves it, the image
  tower under ``visual.`` beside the text tower and ``logit_scale``;
- DeiT-III files (facebookresearch/deit): ``{'model': ...}`` with
  ``blocks.N.gamma_1/gamma_2`` and a ``pos_embed`` without a class slot.

:func:`reference_model` reads a file back through the producer's own
converter (timm's ``checkpoint_filter_fn``), so the file is what timm takes
for that release, and its model is the reference.
"""
import timm
import torch
from timm.models.vision_transformer import checkpoint_filter_fn

WIDTH, DEPTH = 128, 3  # 2 heads of 64
# (timm model, patch, release grid)
TIMM_NAMES = dict(
    dinov2=('vit_small_patch14_dinov2', 14, 6),
    dinov2_reg=('vit_small_patch14_reg4_dinov2', 14, 6),
    # ViT-g's SwiGLU: 192 wide so that its MLP (1024 -> two halves of 512)
    # has the width DINOv2's fused SwiGLU rounds to (a multiple of 8)
    dinov2_g=('vit_giant_patch14_dinov2', 14, 6),
    deit3=('deit3_small_patch16_224', 16, 4),
    clip=('vit_base_patch16_clip_224', 16, 4),
    clip_quickgelu=('vit_base_patch16_clip_quickgelu_224', 16, 4),
)


def _randomise(module, seed):
    """Every tensor random (norms, biases, layer scale too)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.1 +
                    (1.0 if p.dim() == 1 else 0.))
    return module.eval()


def timm_vit(kind, img_size=None, **kwargs):
    name, patch, grid = TIMM_NAMES[kind]
    width = 192 if kind == 'dinov2_g' else WIDTH
    return timm.create_model(
        name, pretrained=False, embed_dim=width, depth=DEPTH,
        num_heads=width // 64, img_size=img_size or patch * grid,
        **kwargs).eval()


def dinov2_release(kind, seed=0):
    """A DINOv2 hub file of ``kind`` (``dinov2``, ``dinov2_reg``,
    ``dinov2_g``)."""
    state = _randomise(timm_vit(kind, num_classes=0), seed).state_dict()
    g = torch.Generator().manual_seed(seed + 1)
    width = state['cls_token'].shape[-1]
    out = {}
    if 'reg_token' in state:
        # DINOv2 adds the class slot of pos_embed to the class token; timm
        # keeps their sum (no_embed_class)
        slot = torch.randn(1, 1, width, generator=g) * 0.1
        out['cls_token'] = state.pop('cls_token') - slot
        out['pos_embed'] = torch.cat([slot, state.pop('pos_embed')], 1)
        out['register_tokens'] = state.pop('reg_token')
    out['mask_token'] = torch.randn(1, width, generator=g) * 0.1
    for key, value in state.items():
        if kind == 'dinov2_g':
            key = key.replace('mlp.fc1', 'mlp.w12').replace('mlp.fc2',
                                                            'mlp.w3')
        out[key] = value
    return out


def deit3_release(seed=0):
    """A DeiT-III file as facebookresearch/deit releases it."""
    state = _randomise(timm_vit('deit3', num_classes=10), seed).state_dict()
    return {'model': {
        k.replace('ls1.gamma', 'gamma_1').replace('ls2.gamma', 'gamma_2'): v
        for k, v in state.items()}}


def openclip_release(quick_gelu, seed=0):
    """An OpenCLIP ``CLIP`` state dict, image and text towers."""
    return _randomise(openclip_model(quick_gelu), seed).state_dict()


def openclip_model(quick_gelu):
    """open_clip's tiny ``CLIP`` (64 px, patch 16)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    _, patch, grid = TIMM_NAMES['clip']
    return CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=DEPTH, width=WIDTH, head_width=64,
                                 patch_size=patch, image_size=patch * grid),
        text_cfg=CLIPTextCfg(context_length=8, vocab_size=64, width=32,
                             heads=2, layers=1),
        quick_gelu=quick_gelu).eval()


def reference_model(kind, release):
    """The producer's model (timm) loaded from ``release`` through timm's
    own converter of that release layout, strictly."""
    num_classes = dict(deit3=10, clip=32, clip_quickgelu=32).get(kind, 0)
    model = timm_vit(kind, num_classes=num_classes)
    release = {k: dict(v) if isinstance(v, dict) else v
               for k, v in release.items()}  # timm's converter pops keys
    state = checkpoint_filter_fn(release, model,
                                 adapt_layer_scale=kind == 'deit3')
    model.load_state_dict(state, strict=True)
    return model


@torch.no_grad()
def reference_targets(model, img, last_layers=2, topk=5):
    """TEC's targets from the producer's blocks: the mean patch tokens of
    the last block outputs, the last block's logits of the class token and
    the ``topk`` patches ranked by its head-averaged row, against the
    patches; the class token and registers are not patches."""
    n = model.num_prefix_tokens
    x = model.norm_pre(model._pos_embed(model.patch_embed(img)))
    outs = []
    for blk in model.blocks:
        attn = blk.attn
        B, N, C = x.shape
        qkv = attn.qkv(blk.norm1(x)).reshape(B, N, 3, attn.num_heads, -1)
        q, k, _ = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        logits = (q @ k.transpose(-2, -1)) * attn.scale  # [B, H, N, N]
        x = blk(x)
        outs.append(x)
    feat = torch.stack(outs[-last_layers:]).mean(0)[:, n:]
    idx = logits[:, :, 0, n:].mean(1).topk(topk, dim=-1).indices
    rows = torch.cat([torch.zeros_like(idx[:, :1]), idx + n], 1)
    attn_target = torch.stack([logits[b][:, rows[b], n:]
                               for b in range(B)]).permute(0, 2, 1, 3)
    return feat, attn_target, idx
