"""The TEC algorithm: decoder arithmetic, frozen base, state dict,
optimizer."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmtec  # noqa: F401
from mmtec.models import TECDecoder
from mmtec.registry import MODELS
from vit_checkpoints import IMG, PATCH, TINY_ARCH, layouts, random_vit


def tec_cfg(tiny_base, **kwargs):
    cfg = dict(
        type='TEC',
        backbone=dict(type='ConditionalAdapterViT', arch=TINY_ARCH,
                      img_size=IMG, patch_size=PATCH, num_adapters=1,
                      adapter_hidden_dims=64),
        neck=dict(type='TECDecoder', num_patches=16, in_channels=64,
                  embed_dims=32, num_layers=1, num_heads=4),
        head=dict(type='PatchRelationTargetHead',
                  loss_attention=dict(type='AttentionMapLoss')),
        target_generator=dict(type='TECTargetGenerator',
                              checkpoint=str(tiny_base), arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH, topk=5),
        init_cfg=[dict(type='Xavier', layer='Linear',
                       distribution='uniform'),
                  dict(type='Constant', layer='LayerNorm', val=1., bias=0.)])
    cfg.update(kwargs)
    return cfg


def test_decoder_attention_logits_by_hand():
    torch.manual_seed(0)
    dec = TECDecoder(num_patches=4, in_channels=8, embed_dims=8, num_layers=1,
                     num_heads=2, target_channels=6, target_num_heads=3)
    x = torch.randn(2, 5, 8)  # the attention branch's decoder output
    with torch.no_grad():
        dec.attention_branch.pred.bias.normal_()
        qk = dec.attention_branch.pred(x)  # [B, 1+L, 2*C_pred]
        topk_idx = torch.tensor([[2, 0], [3, 1]])
        out = dec.attention_logits(x, topk_idx)
    assert out.shape == (2, 3, 3, 4)  # [B, 1+topk, H, L]
    for b in range(2):
        rows = [0] + [i + 1 for i in topk_idx[b].tolist()]
        for r, row in enumerate(rows):
            for h in range(3):
                q = qk[b, row, 2 * h:2 * h + 2]  # heads split q's 6 channels
                for key in range(4):
                    k = qk[b, 1 + key, 6 + 2 * h:6 + 2 * h + 2]
                    # scale is C_pred^-0.5, not head_dim^-0.5
                    expected = (q * k).sum() * 6**-0.5
                    assert out[b, r, h, key].item() == pytest.approx(
                        expected.item(), rel=1e-5, abs=1e-6)


def test_decoder_branches_restore_patch_order():
    torch.manual_seed(0)
    dec = TECDecoder(num_patches=4, in_channels=8, embed_dims=8, num_layers=1,
                     num_heads=2, target_channels=6, target_num_heads=3)
    branch = dec.feature_branch
    latent = torch.randn(1, 3, 8)  # class token + 2 visible patches
    ids_restore = torch.tensor([[2, 0, 3, 1]])  # visible: positions 1, 3
    tokens = branch.tokens(latent, ids_restore)
    embedded = branch.embed(latent)
    torch.testing.assert_close(tokens[0, 0], embedded[0, 0])
    torch.testing.assert_close(tokens[0, 2], embedded[0, 1])
    torch.testing.assert_close(tokens[0, 4], embedded[0, 2])
    torch.testing.assert_close(tokens[0, 1], branch.mask_token[0, 0])
    torch.testing.assert_close(tokens[0, 3], branch.mask_token[0, 0])


def test_loss_backward_reaches_new_model_only(tiny_base):
    model = MODELS.build(tec_cfg(tiny_base))
    model.init_weights()
    model.train()
    assert not model.target_generator.training
    losses = model.loss(torch.randn(2, 3, IMG, IMG), None)
    assert set(losses) == {'loss_feature', 'loss_attention'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if name.startswith('target_generator.'):
            assert p.grad is None and not p.requires_grad, name
        elif p.requires_grad:
            assert p.grad is not None, name


def test_init_weights_keeps_the_base_weights(tiny_base):
    model = MODELS.build(tec_cfg(tiny_base))
    before = {k: v.clone() for k, v in
              model.target_generator.state_dict().items()}
    model.init_weights()
    for k, v in model.target_generator.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_base_is_not_saved_and_not_optimised(tiny_base):
    model = MODELS.build(tec_cfg(tiny_base))
    state = model.state_dict()
    assert not any(k.startswith('target_generator.') for k in state)
    # a saved state dict loads back strictly
    fresh = MODELS.build(tec_cfg(tiny_base))
    fresh.load_state_dict(state, strict=True)
    init_default_scope('mmpretrain')
    wrapper = build_optim_wrapper(
        model,
        dict(constructor='TrainableParamsOptimWrapperConstructor',
             optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
             paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.)))
    in_optimizer = {
        id(p) for g in wrapper.optimizer.param_groups for p in g['params']
    }
    base_ids = {id(p) for p in model.target_generator.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert not in_optimizer & base_ids
    assert in_optimizer == trainable
    # without a paramwise_cfg the base model is left out as well
    plain = build_optim_wrapper(
        model,
        dict(constructor='TrainableParamsOptimWrapperConstructor',
             optimizer=dict(type='AdamW', lr=1e-3)))
    assert {id(p) for g in plain.optimizer.param_groups
            for p in g['params']} == trainable
    saving = MODELS.build(tec_cfg(tiny_base, save_target_generator=True))
    assert any(k.startswith('target_generator.')
               for k in saving.state_dict())


def test_attention_target_switch_reaches_all_parts(tiny_base):
    model = MODELS.build(tec_cfg(tiny_base, use_attention_target=False))
    assert model.neck.attention_branch is None
    assert model.head.loss_attention is None
    assert not model.target_generator.use_attention_target
    losses = model.loss(torch.randn(1, 3, IMG, IMG), None)
    assert set(losses) == {'loss_feature'}
    # the old way to switch it off is refused with the one name to use
    with pytest.raises(ValueError, match='use_attention_target=False'):
        MODELS.build(dict(type='PatchRelationTargetHead',
                          loss_attention=None))


def test_neck_gets_the_base_width_and_heads(tmp_path):
    arch = dict(embed_dims=48, num_layers=2, num_heads=3,
                feedforward_channels=96)
    torch.save(layouts(random_vit(arch=arch))['mae'][0], tmp_path / 'b.pth')
    cfg = tec_cfg(tmp_path / 'b.pth')
    cfg['target_generator']['arch'] = arch
    model = MODELS.build(cfg)
    assert model.neck.target_channels == 48
    assert model.neck.target_num_heads == 3
    feat_pred, attn_pred = model.neck(
        *model.backbone(torch.randn(1, 3, IMG, IMG))[::2],
        torch.tensor([[0, 1, 2, 3, 4]]))
    assert feat_pred.shape == (1, 16, 48) and attn_pred.shape == (1, 6, 3, 16)


def test_settings_that_follow_from_the_backbone_are_derived(tiny_base):
    """A config states the backbone and the decoder width once."""
    cfg = tec_cfg(tiny_base)
    for key in ('num_patches', 'in_channels'):
        del cfg['neck'][key]
    del cfg['backbone']['adapter_hidden_dims']
    for key in ('img_size', 'patch_size'):
        del cfg['target_generator'][key]
    model = MODELS.build(cfg)
    assert model.neck.num_patches == (IMG // PATCH)**2
    assert model.neck.feature_branch.embed.in_features == \
        TINY_ARCH['embed_dims']
    hidden = model.backbone.encoder_adapter.mlps[0].layers[0][0]
    assert hidden.out_features == 4 * 32  # 4 x decoder width
    base_vit = model.target_generator.vit
    assert base_vit.patch_resolution == (IMG // PATCH, IMG // PATCH)
    # the adapter's norms use PyTorch's eps, the encoder's TEC's 1e-6
    adapter = model.backbone.encoder_adapter
    assert adapter.norm_in.eps == adapter.norm_out.eps == 1e-5
    assert model.backbone.ln1.eps == 1e-6
    model.loss(torch.randn(2, 3, IMG, IMG), [])


def test_explicit_settings_win_over_derived_ones(tmp_path):
    torch.save(layouts(random_vit())['mae'][0], tmp_path / 'b.pth')
    cfg = tec_cfg(tmp_path / 'b.pth')
    cfg['backbone']['adapter_hidden_dims'] = 24
    model = MODELS.build(cfg)
    hidden = model.backbone.encoder_adapter.mlps[0].layers[0][0]
    assert hidden.out_features == 24
    # a base model at another resolution: its position embedding is
    # interpolated from the checkpoint
    cfg = tec_cfg(tmp_path / 'b.pth')
    cfg['target_generator']['img_size'] = 2 * IMG
    model = MODELS.build(cfg)
    side = 2 * IMG // PATCH
    assert model.target_generator.vit.patch_resolution == (side, side)
