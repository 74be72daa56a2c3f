"""Write randomly initialised ViTs in every checkpoint layout users bring.

The timm names are spelled out here on purpose (not taken from mmtec's own
mapping), so that a wrong mapping in mmtec cannot hide itself.
"""
import argparse

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
    # the key names of MAE's released files (final norm included)
    depth = sum(k.endswith('attn.qkv.weight') for k in timm)
    assert {'cls_token', 'pos_embed', 'patch_embed.proj.weight',
            'blocks.0.norm1.weight', 'blocks.0.attn.qkv.weight',
            'blocks.0.attn.proj.bias', 'blocks.0.norm2.bias',
            'blocks.0.mlp.fc1.weight', f'blocks.{depth - 1}.mlp.fc2.bias',
            'norm.weight'} <= set(timm)
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
    out['tec_raw'] = (official_save_model(raw, epoch=299, args=tec_args()),
                      merged)
    out.update(training_checkpoints(timm, canonical))
    return out


# --------------------------------------------------------------------------
# training checkpoints as the field's own save code writes them
# --------------------------------------------------------------------------
def _parser(fields):
    """A real argparse parser with the run's fields; ``parse_args([])``
    gives the ``argparse.Namespace`` the training scripts save."""
    parser = argparse.ArgumentParser()
    for name, default in fields.items():
        kind = type(default) if isinstance(default, (int, float, str)) \
            and not isinstance(default, bool) else None
        if isinstance(default, bool):
            parser.add_argument('--' + name, action='store_true',
                                default=default)
        elif kind is None:
            parser.add_argument('--' + name, default=default, nargs='*')
        else:
            parser.add_argument('--' + name, type=kind, default=default)
    return parser.parse_args([])


def mae_args():
    """The fields of MAE's ``main_pretrain.py`` parser, after init."""
    return _parser(dict(
        batch_size=64, epochs=800, accum_iter=1,
        model='mae_vit_base_patch16', input_size=224, mask_ratio=0.75,
        norm_pix_loss=True, weight_decay=0.05, lr=None, blr=1.5e-4,
        min_lr=0.0, warmup_epochs=40,
        data_path='/datasets01/imagenet_full_size/061417/',
        output_dir='./output_dir', log_dir='./output_dir', device='cuda',
        seed=0, resume='', start_epoch=0, num_workers=10, pin_mem=True,
        world_size=8, local_rank=-1, dist_on_itp=False, dist_url='env://',
        distributed=True, rank=0, gpu=0, dist_backend='nccl'))


def tec_args():
    """MAE's fields plus TEC's base-model and target options."""
    args = mae_args()
    args.model = 'tec_vit_base_patch16'
    args.teacher_path = 'mae_pretrain_vit_base.pth'
    args.att_tau = 1.8
    args.topk = [4, 8]
    args.epochs = 300
    return args


def dino_args():
    """The fields of DINO's ``main_dino.py`` parser (tuples included)."""
    args = _parser(dict(
        arch='vit_small', patch_size=16, out_dim=65536,
        norm_last_layer=True, momentum_teacher=0.996, use_bn_in_head=False,
        warmup_teacher_temp=0.04, teacher_temp=0.07,
        warmup_teacher_temp_epochs=30, use_fp16=True, weight_decay=0.04,
        weight_decay_end=0.4, clip_grad=3.0, batch_size_per_gpu=64,
        epochs=300, freeze_last_layer=1, lr=0.0005, warmup_epochs=10,
        min_lr=1e-6, optimizer='adamw', drop_path_rate=0.1,
        local_crops_number=10, data_path='/path/to/imagenet/train/',
        output_dir='.', saveckp_freq=20, seed=0, num_workers=10,
        dist_url='env://', local_rank=0, rank=0, world_size=16, gpu=0))
    args.global_crops_scale = (0.4, 1.0)
    args.local_crops_scale = (0.05, 0.4)
    return args


def _trained(tensors):
    """``optimizer.state_dict()`` of AdamW after one step over ``tensors``,
    and a CPU GradScaler's ``state_dict()`` after one scaled step."""
    params = [torch.nn.Parameter(t.detach().clone().float())
              for t in tensors]
    optim = torch.optim.AdamW(params, lr=1.5e-4, betas=(0.9, 0.95),
                              weight_decay=0.05)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.**16)
    scaler.scale(sum(p.sum() for p in params)).backward()
    scaler.step(optim)
    scaler.update()
    return optim.state_dict(), scaler.state_dict()


def official_save_model(model_state, epoch, args):
    """What MAE's (and TEC's) ``util/misc.py::save_model`` writes."""
    optimizer, scaler = _trained(list(model_state.values())[:4])
    return {'model': model_state, 'optimizer': optimizer, 'epoch': epoch,
            'scaler': scaler, 'args': args}


def training_checkpoints(timm, canonical):
    """MAE, DINO, iBOT and timm training checkpoints of one ViT."""
    dims = canonical['cls_token'].shape[-1]
    mae_decoder = {
        'mask_token': torch.zeros(1, 1, 32),
        'decoder_embed.weight': torch.randn(32, dims),
        'decoder_pos_embed': torch.zeros(1, 17, 32),
        'decoder_blocks.0.norm1.weight': torch.ones(32),
        'decoder_norm.weight': torch.ones(32),
        'decoder_pred.weight': torch.randn(192, 32),
    }
    head = {'head.mlp.0.weight': torch.randn(16, dims),
            'head.last_layer.weight_g': torch.ones(8, 1)}
    backbone = {'backbone.' + k: v for k, v in timm.items()}
    optimizer, scaler = _trained(list(timm.values())[:4])
    dino = {
        # DINO wraps the student in DDP, not the teacher (no BN in a ViT)
        'student': {'module.' + k: v * 0 for k, v in {**backbone,
                                                       **head}.items()},
        'teacher': {**backbone, **head},
        'optimizer': optimizer, 'epoch': 300, 'args': dino_args(),
        'dino_loss': {'center': torch.randn(1, 8)},
        'fp16_scaler': scaler,
    }
    ibot_args = dino_args()
    ibot_args.pred_ratio = [0.0, 0.3]
    ibot_args.lambda1, ibot_args.lambda2 = 1.0, 1.0
    ibot = {
        'student': {'module.' + k: v * 0 for k, v in {**backbone,
                                                       **head}.items()},
        'teacher': {**backbone, **head, 'backbone.masked_embed':
                    torch.zeros(dims)},
        'optimizer': optimizer, 'epoch': 800, 'args': ibot_args,
        'ibot_loss': {'center': torch.randn(1, 8),
                      'center2': torch.randn(1, 1, 8)},
        'fp16_scaler': scaler,
    }
    timm_args = mae_args()
    timm_args.model = 'vit_tiny_patch16_224'
    timm_saver = {  # timm's CheckpointSaver, with its NativeScaler
        'epoch': 99, 'arch': 'vit_tiny_patch16_224',
        'state_dict': {**timm, 'head.weight': torch.randn(10, dims),
                       'head.bias': torch.zeros(10)},
        'optimizer': optimizer, 'amp_scaler': scaler, 'version': 2,
        'args': timm_args, 'metric': 72.5,
    }
    return {
        'mae_training': (official_save_model(
            {**timm, **mae_decoder}, epoch=799, args=mae_args()), canonical),
        'dino_training': (dino, canonical),
        'ibot_training': (ibot, canonical),
        'timm_training': (timm_saver, canonical),
    }


def convert_tec_checkpoint(vit, tmp_path, layout):
    """Save ``vit`` as a TEC raw training checkpoint and convert it with
    ``tools/model_converters/tec2vit.py --layout layout``, as a user would.
    """
    import subprocess
    import sys

    from paths import ROOT as root
    raw, _ = layouts(vit)['tec_raw']
    src, dst = tmp_path / 'tec_raw.pth', tmp_path / f'tec_{layout}.pth'
    torch.save(raw, src)
    res = subprocess.run([
        sys.executable, 'tools/model_converters/tec2vit.py',
        str(src), str(dst), '--layout', layout
    ], cwd=root, capture_output=True, text=True, timeout=TOOL_S)
    assert res.returncode == 0, res.stderr
    return str(dst)
