"""Write randomly initialised ViTs in every checkpoint layout users bring.

The timm names are spelled out here on purpose (not taken from mmtec's own
mapping), so that a wrong mapping in mmtec cannot hide itself.
"""
import torch
from mmpretrain.models.backbones import VisionTransformer
from timeouts import TOOL_S

TINY_ARCH = dict(
    embed_dims=64, num_layers=3, num_heads=4, feedforward_channels=128)
IMG, PATCH = 32, 8


def random_vit(arch=TINY_ARCH, img_size=IMG, patch_size=PATCH, seed=0):
    """A ViT whose every tensor (norms and biases too) is random."""
    torch.manual_seed(seed)
    vit = VisionTransformer(
        arch=arch, img_size=img_size, patch_size=patch_size,
        final_norm=True, out_type='raw')
    with torch.no_grad():
        for p in vit.parameters():
            p.copy_(torch.randn_like(p) * 0.1 + (1.0 if p.dim() == 1 else 0))
    vit.eval()  # BaseBackbone.train returns None: no chaining
    return vit


def timm_state(canonical):
    """MMPretrain ViT keys -> timm keys, spelled out block by block."""
    out = {
        'cls_token': canonical['cls_token'],
        'pos_embed': canonical['pos_embed'],
        'patch_embed.proj.weight': canonical['patch_embed.projection.weight'],
        'patch_embed.proj.bias': canonical['patch_embed.projection.bias'],
    }
    n = 1 + max(int(k.split('.')[1]) for k in canonical if
                k.startswith('layers.'))
    names = {
        'norm1': 'ln1', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj',
        'norm2': 'ln2', 'mlp.fc1': 'ffn.layers.0.0', 'mlp.fc2': 'ffn.layers.1'
    }
    for i in range(n):
        for timm_name, mm_name in names.items():
            for p in ('weight', 'bias'):
                out[f'blocks.{i}.{timm_name}.{p}'] = \
                    canonical[f'layers.{i}.{mm_name}.{p}']
    if 'ln1.weight' in canonical:
        out['norm.weight'] = canonical['ln1.weight']
        out['norm.bias'] = canonical['ln1.bias']
    return out


def class_token_mlp(dims, seed=1):
    """Weights of a Linear-GELU-Linear input adapter (hidden 4 x dims)."""
    g = torch.Generator().manual_seed(seed)
    return dict(
        fc1_weight=torch.randn(4 * dims, dims, generator=g) * 0.1,
        fc1_bias=torch.randn(4 * dims, generator=g) * 0.1,
        fc2_weight=torch.randn(dims, 4 * dims, generator=g) * 0.1,
        fc2_bias=torch.randn(dims, generator=g) * 0.1)


def apply_mlp(cls_token, mlp):
    hidden = torch.nn.functional.gelu(
        cls_token @ mlp['fc1_weight'].T + mlp['fc1_bias'])
    return hidden @ mlp['fc2_weight'].T + mlp['fc2_bias']


def layouts(vit):
    """``{name: (checkpoint_object, expected_canonical_state)}``.

    ``expected`` is what a base model loaded from the file must hold
    (class token merged where the layout has an input adapter).
    """
    canonical = {k: v.clone() for k, v in vit.state_dict().items()}
    timm = timm_state(canonical)
    head = {'head.weight': torch.randn(10, 64), 'head.bias': torch.zeros(10)}
    out = {
        'mae': ({'model': timm}, canonical),
        'deit': ({'model': {**timm, **head}}, canonical),
        'timm_bare': (dict(timm), canonical),
        'ibot_teacher': ({
            'teacher': {**{'backbone.' + k: v for k, v in timm.items()},
                        'head.mlp.0.weight': torch.randn(8, 64),
                        'backbone.masked_embed': torch.zeros(64)},
            'student': {'backbone.' + k: v * 0 for k, v in timm.items()},
            'epoch': 800}, canonical),
        'dino_state_dict_prefixed': ({
            'state_dict': {'module.backbone.' + k: v
                           for k, v in timm.items()}}, canonical),
        'dino_student': ({
            'student': {'module.backbone.' + k: v for k, v in timm.items()}},
            canonical),
        'mmpretrain': ({
            'state_dict': {**{'backbone.' + k: v
                              for k, v in canonical.items()},
                           # an MMPretrain MAE: its decoder is a neck too
                           'neck.decoder_blocks.0.ln1.weight': torch.ones(8),
                           'neck.mask_token': torch.zeros(1, 1, 8),
                           'head.fc.weight': torch.randn(10, 64)},
            'meta': {'epoch': 1}}, canonical),
    }
    # TEC released: class token already merged, no final norm
    released = {k: v for k, v in timm.items() if not k.startswith('norm.')}
    out['tec_released'] = (released, canonical)
    # TEC raw training checkpoint: the class token still needs the MLP
    mlp = class_token_mlp(canonical['cls_token'].shape[-1])
    raw_cls = torch.randn_like(canonical['cls_token'])
    raw = dict(timm, cls_token=raw_cls)
    raw.update({
        'cls_token_mlp.fc1.weight': mlp['fc1_weight'],
        'cls_token_mlp.fc1.bias': mlp['fc1_bias'],
        'cls_token_mlp.fc2.weight': mlp['fc2_weight'],
        'cls_token_mlp.fc2.bias': mlp['fc2_bias'],
        'encoder_adaptor.adap_before.weight': torch.ones(192),
        'forward_fea_decoder.decoder_pred.weight': torch.randn(64, 32),
        'forward_att_decoder.decoder_qk.weight': torch.randn(128, 32),
        'decoder_blocks.0.norm1.weight': torch.ones(32),
        'decoder_pos_embed': torch.zeros(1, 17, 32),
    })
    merged = dict(canonical, cls_token=apply_mlp(raw_cls, mlp))
    out['tec_raw'] = ({'model': raw, 'epoch': 299}, merged)
    return out


def convert_tec_checkpoint(vit, tmp_path, layout):
    """Save ``vit`` as a TEC raw training checkpoint and convert it with
    ``tools/model_converters/tec2vit.py --layout layout``, as a user would.
    """
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    raw, _ = layouts(vit)['tec_raw']
    src, dst = tmp_path / 'tec_raw.pth', tmp_path / f'tec_{layout}.pth'
    torch.save(raw, src)
    res = subprocess.run([
        sys.executable, 'tools/model_converters/tec2vit.py',
        str(src), str(dst), '--layout', layout
    ], cwd=root, capture_output=True, text=True, timeout=TOOL_S)
    assert res.returncode == 0, res.stderr
    return str(dst)
