"""The new model's encoder: masking, adapters, class-token merging."""
import torch
from mmpretrain.models.backbones import VisionTransformer

from mmtec.converters import read_vit
from mmtec.models import ConditionalAdapterViT, EncoderAdapter
from vit_checkpoints import IMG, PATCH, TINY_ARCH


def build(**kwargs):
    torch.manual_seed(0)
    model = ConditionalAdapterViT(
        arch=TINY_ARCH, img_size=IMG, patch_size=PATCH,
        adapter_hidden_dims=32, **kwargs)
    model.init_weights()
    # make the input adapter and norms non-trivial
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()  # BaseBackbone.train returns None: no chaining
    return model


def test_masking_keeps_exactly_the_visible_fraction_and_restores_order():
    model = build(mask_ratio=0.75)
    L, C = 16, 8
    x = torch.arange(2 * L, dtype=torch.float).reshape(2, L, 1).repeat(1, 1,
                                                                      C)
    kept, mask, ids_restore = model.random_masking(x, 0.75)
    assert kept.shape == (2, 4, C)  # (1 - 0.75) * 16
    assert mask.sum(dim=1).tolist() == [12., 12.]
    # the kept tokens are exactly the unmasked positions
    for b in range(2):
        visible = x[b][mask[b] == 0]
        assert sorted(kept[b, :, 0].tolist()) == sorted(visible[:, 0].tolist())
    # appending placeholders and gathering with ids_restore gives back the
    # original order for every visible token
    full = torch.cat([kept, torch.full((2, 12, C), -1.)], dim=1)
    restored = torch.gather(full, 1, ids_restore[..., None].expand(-1, -1, C))
    assert torch.equal(restored[mask == 0], x[mask == 0])
    assert (restored[mask == 1] == -1).all()


def test_masked_forward_shapes_and_random_masks():
    model = build(mask_ratio=0.75)
    img = torch.randn(2, 3, IMG, IMG)
    latent, mask, ids_restore = model(img)
    assert latent.shape == (2, 1 + 4, 64)
    assert mask.shape == ids_restore.shape == (2, 16)
    assert not torch.equal(mask[0], mask[1])  # per-sample masks


def test_merged_class_token_equals_unmerged_input_adapter():
    model = build()
    img = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        ours = model(img, mask=False)[0]
    state, info = read_vit(
        {'state_dict': {'backbone.' + k: v
                        for k, v in model.state_dict().items()}})
    assert info['layout'] == 'mmtec'
    assert not any('adapter' in k for k in state)
    plain = VisionTransformer(arch=TINY_ARCH, img_size=IMG, patch_size=PATCH,
                              final_norm=True, out_type='raw')
    assert plain.load_state_dict(state, strict=True)
    with torch.no_grad():
        theirs = plain(img)[0]
        expected_cls = model.input_adapter(model.cls_token)
    torch.testing.assert_close(state['cls_token'], expected_cls)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(state['cls_token'], model.cls_token)


def test_encoder_adapter_by_hand():
    torch.manual_seed(0)
    adapter = EncoderAdapter(embed_dims=4, num_layers=6, num_adapters=2,
                             hidden_dims=8)
    outs = [torch.randn(2, 3, 4) for _ in range(6)]
    x = adapter.norm_in(torch.cat(outs, dim=-1))  # LN over 6 x 4 channels
    expected = 0
    for g, (fuse, mlp) in enumerate(zip(adapter.fuse, adapter.mlps)):
        h = fuse(x[..., 12 * g:12 * (g + 1)])  # 3 consecutive layers
        fc1, fc2 = mlp.layers[0][0], mlp.layers[1]
        expected = expected + h + fc2(torch.nn.functional.gelu(fc1(h)))
    expected = adapter.norm_out(expected)
    torch.testing.assert_close(adapter(outs), expected)


def test_adapters_can_be_switched_off():
    model = build(input_adapter=False, num_adapters=0)
    assert model.input_adapter is None and model.encoder_adapter is None
    latent, _, _ = model(torch.randn(1, 3, IMG, IMG))
    assert latent.shape == (1, 5, 64)
