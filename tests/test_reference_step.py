"""mmtec's whole TEC step against a plain-torch restatement of the spec.

The reference (``tests/tec_reference.py``) takes mmtec's weights as plain
tensors, the same images and the same masking noise, and computes both
losses; mmtec's losses and every parameter gradient must equal it in fp32.
The sizes are tiny but every setting that could hide a bug is non-trivial:
several heads everywhere, tau != 1, topk > 1, two averaged base layers, two
encoder adapter groups, two decoder blocks, random norms and biases.
"""
import contextlib
import re

import pytest
import torch

import mmtec  # noqa: F401
from mmtec.registry import MODELS
from tec_reference import tec_losses
from vit_checkpoints import IMG, PATCH, TINY_ARCH

REF_CFG = dict(base_depth=TINY_ARCH['num_layers'],
               base_heads=TINY_ARCH['num_heads'], last_layers=2, topk=3,
               enc_depth=6, enc_heads=4, mask_ratio=0.75, dec_depth=2,
               dec_heads=4, tau=1.4)
NUM_PATCHES = (IMG // PATCH)**2


def tec_cfg(tiny_base, **kwargs):
    """A tiny TEC matching ``REF_CFG``; kwargs update the top level."""
    cfg = dict(
        type='TEC',
        backbone=dict(
            type='ConditionalAdapterViT',
            arch=dict(embed_dims=32, num_layers=6, num_heads=4,
                      feedforward_channels=64),
            img_size=IMG, patch_size=PATCH, num_adapters=2,
            adapter_hidden_dims=48),
        neck=dict(type='TECDecoder', num_patches=NUM_PATCHES, in_channels=32,
                  embed_dims=32, num_layers=2, num_heads=4),
        head=dict(type='PatchRelationTargetHead',
                  loss_attention=dict(type='AttentionMapLoss', tau=1.4)),
        target_generator=dict(type='TECTargetGenerator',
                              checkpoint=str(tiny_base), arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH, last_layers=2,
                              topk=3))
    for key, value in kwargs.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    return cfg


_BLOCK = {
    'ln1.weight': 'ln1_w', 'ln1.bias': 'ln1_b',
    'attn.qkv.weight': 'qkv_w', 'attn.qkv.bias': 'qkv_b',
    'attn.proj.weight': 'proj_w', 'attn.proj.bias': 'proj_b',
    'ln2.weight': 'ln2_w', 'ln2.bias': 'ln2_b',
    'ffn.layers.0.0.weight': 'fc1_w', 'ffn.layers.0.0.bias': 'fc1_b',
    'ffn.layers.1.weight': 'fc2_w', 'ffn.layers.1.bias': 'fc2_b',
}
_FIXED = {
    'target_generator.vit.patch_embed.projection.weight': 'base.patch_w',
    'target_generator.vit.patch_embed.projection.bias': 'base.patch_b',
    'target_generator.vit.cls_token': 'base.cls',
    'target_generator.vit.pos_embed': 'base.pos',
    'backbone.patch_embed.projection.weight': 'enc.patch_w',
    'backbone.patch_embed.projection.bias': 'enc.patch_b',
    'backbone.cls_token': 'enc.cls',
    'backbone.pos_embed': 'enc.pos',
    'backbone.ln1.weight': 'enc.norm_w',
    'backbone.ln1.bias': 'enc.norm_b',
    'backbone.input_adapter.layers.0.0.weight': 'enc.tok_fc1_w',
    'backbone.input_adapter.layers.0.0.bias': 'enc.tok_fc1_b',
    'backbone.input_adapter.layers.1.weight': 'enc.tok_fc2_w',
    'backbone.input_adapter.layers.1.bias': 'enc.tok_fc2_b',
    'backbone.encoder_adapter.norm_in.weight': 'enc.ada.norm_in_w',
    'backbone.encoder_adapter.norm_in.bias': 'enc.ada.norm_in_b',
    'backbone.encoder_adapter.norm_out.weight': 'enc.ada.norm_out_w',
    'backbone.encoder_adapter.norm_out.bias': 'enc.ada.norm_out_b',
    'neck.decoder_pos_embed': 'dec.pos',
}
_PATTERNS = [
    (r'target_generator\.vit\.layers\.(\d+)\.(.+)', 'base.blk{}.'),
    (r'backbone\.layers\.(\d+)\.(.+)', 'enc.blk{}.'),
    (r'neck\.decoder_blocks\.(\d+)\.(.+)', 'dec.blk{}.'),
]
_ADAPTER = re.compile(r'backbone\.encoder_adapter\.(fuse|mlps)\.(\d+)\.(.+)')
_BRANCH = re.compile(r'neck\.(feature|attention)_branch\.(\w+)\.?(\w*)')


def reference_name(name: str) -> str:
    """mmtec parameter name -> the reference's plain tensor name."""
    if name in _FIXED:
        return _FIXED[name]
    for pattern, prefix in _PATTERNS:
        m = re.fullmatch(pattern, name)
        if m:
            return prefix.format(m.group(1)) + _BLOCK[m.group(2)]
    m = _ADAPTER.fullmatch(name)
    if m:
        kind, g, rest = m.groups()
        if kind == 'fuse':
            return f'enc.ada.fuse{g}_' + rest[0]
        return f'enc.ada.mlp{g}_' + _BLOCK['ffn.' + rest]
    m = _BRANCH.fullmatch(name)
    if m:
        branch = dict(feature='fea', attention='att')[m.group(1)]
        part = dict(embed='embed', mask_token='mask', norm='norm',
                    pred='pred')[m.group(2)]
        suffix = dict(weight='_w', bias='_b', **{'': ''})[m.group(3)]
        return f'dec.{branch}.{part}{suffix}'
    raise KeyError(f'{name} has no counterpart in the reference')


def build_randomised(tiny_base, seed=0, **kwargs):
    """A tiny TEC whose every trainable tensor is random (norms too)."""
    torch.manual_seed(seed)
    model = MODELS.build(tec_cfg(tiny_base, **kwargs))
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.2)
    model.train()
    return model


@contextlib.contextmanager
def fixed_masking_noise(noise):
    """Make the encoder's ``torch.rand(B, L)`` masking noise ``noise``."""
    original = torch.rand

    def rand(*size, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(
            size[0], (tuple, list, torch.Size)) else tuple(size)
        if shape == tuple(noise.shape):
            return noise.clone().to(kwargs.get('device') or noise.device)
        return original(*size, **kwargs)

    torch.rand = rand
    try:
        yield
    finally:
        torch.rand = original


def step_inputs(seed=1, batch=3):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(batch, 3, IMG, IMG, generator=g)
    noise = torch.rand(batch, NUM_PATCHES, generator=g)
    return img, noise


def mmtec_step(model, img, noise):
    """mmtec's losses and the gradients of its trainable parameters."""
    model.zero_grad(set_to_none=True)
    with fixed_masking_noise(noise):
        losses = model.loss(img, None)
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach() for k, v in losses.items()}, grads


def reference_step(model, img, noise):
    """The reference's losses and gradients on ``model``'s weights."""
    weights, names = {}, {}
    for name, p in model.named_parameters():
        ref = reference_name(name)
        weights[ref] = p.detach().clone().float().requires_grad_(
            p.requires_grad)
        names[name] = ref
    losses = tec_losses(img, noise, weights, REF_CFG)
    sum(losses.values()).backward()
    grads = {n: weights[r].grad for n, r in names.items()
             if weights[r].requires_grad}
    return {k: v.detach() for k, v in losses.items()}, grads


def assert_matches_reference(model, tol=1e-5):
    img, noise = step_inputs()
    losses, grads = mmtec_step(model, img, noise)
    ref_losses, ref_grads = reference_step(model, img, noise)
    assert set(losses) == set(ref_losses)
    for key in ref_losses:
        torch.testing.assert_close(losses[key], ref_losses[key], rtol=tol,
                                   atol=tol, msg=lambda m: f'{key}: {m}')
    assert set(grads) == set(ref_grads)
    for name, ref in ref_grads.items():
        assert grads[name] is not None, f'{name} got no gradient'
        assert ref.abs().max() > 0, f'{name}: reference gradient is zero'
        torch.testing.assert_close(grads[name], ref, rtol=tol, atol=tol,
                                   msg=lambda m: f'grad of {name}: {m}')
    return losses


def test_every_parameter_has_a_reference_counterpart(tiny_base):
    model = build_randomised(tiny_base)
    names = {reference_name(n) for n, _ in model.named_parameters()}
    assert len(names) == len(list(model.parameters()))


def test_tec_step_equals_the_spec_reference(tiny_base):
    model = build_randomised(tiny_base)
    losses = assert_matches_reference(model)
    # the setting is not degenerate: both losses are far from zero
    assert losses['loss_feature'] > 0.1 and losses['loss_attention'] > 0.1


@pytest.mark.slow
def test_compiled_submodules_equal_the_spec_reference(tiny_base):
    """torch.compile of encoder, decoder and base model."""
    compiled = dict(
        backbone=dict(compile=True), neck=dict(compile=True),
        target_generator=dict(compile=True))
    model = build_randomised(tiny_base, **compiled)
    assert_matches_reference(model)
