"""The frozen base model: every checkpoint layout, the targets' values."""
import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from mmtec.checkpoint import CheckpointLayoutError
from mmtec.converters import read_vit
from mmtec.models import TECTargetGenerator
from vit_checkpoints import IMG, PATCH, TINY_ARCH, layouts, random_vit

LAYOUT_NAMES = sorted(layouts(random_vit()))
DETECTED = dict(mae='timm', deit='timm', timm_bare='timm',
                ibot_teacher='timm', dino_state_dict_prefixed='timm',
                dino_student='timm', mmpretrain='mmpretrain',
                tec_released='timm', tec_raw='tec_raw',
                mae_training='timm', dino_training='timm',
                ibot_training='timm', timm_training='timm')


def generator(path, **kwargs):
    kwargs.setdefault('topk', 5)
    return TECTargetGenerator(checkpoint=str(path), arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH, **kwargs)


@pytest.mark.parametrize('name', LAYOUT_NAMES)
def test_every_layout_loads_with_the_right_values(tmp_path, name, caplog):
    ckpt, expected = layouts(random_vit())[name]
    path = tmp_path / f'{name}.pth'
    torch.save(ckpt, path)
    gen = generator(path)
    assert read_vit(str(path))[1]['layout'] == DETECTED[name]
    loaded = gen.vit.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, expected[key], msg=key)
    assert set(loaded) == set(expected) - {'ln1.weight', 'ln1.bias'}


def test_mmtec_pretraining_checkpoint_can_be_the_next_base(tmp_path):
    from mmtec.models import ConditionalAdapterViT
    torch.manual_seed(0)
    new = ConditionalAdapterViT(arch=TINY_ARCH, img_size=IMG,
                                patch_size=PATCH, adapter_hidden_dims=32)
    new.init_weights()
    state = {'backbone.' + k: v for k, v in new.state_dict().items()}
    state['neck.decoder_blocks.0.ln1.weight'] = torch.ones(32)
    torch.save({'state_dict': state, 'meta': {'epoch': 3}},
               tmp_path / 'mmtec.pth')
    gen = generator(tmp_path / 'mmtec.pth')
    with torch.no_grad():
        merged = new.input_adapter(new.cls_token)
    torch.testing.assert_close(gen.vit.cls_token, merged)
    torch.testing.assert_close(gen.vit.layers[2].attn.qkv.weight,
                               new.layers[2].attn.qkv.weight)


def reference_targets(vit, img, last_layers, topk):
    """Targets computed the slow, obvious way from a plain MMPretrain ViT."""
    depth = len(vit.layers)
    ref = VisionTransformer(arch=TINY_ARCH, img_size=IMG, patch_size=PATCH,
                            final_norm=False, out_type='raw',
                            out_indices=list(range(depth - last_layers,
                                                   depth)))
    ref.load_state_dict(
        {k: v for k, v in vit.state_dict().items() if not k.startswith('ln1')})
    ref.eval()
    captured = {}
    ref.layers[-1].ln1.register_forward_hook(
        lambda m, i, o: captured.setdefault('x', o))
    with torch.no_grad():
        outs = ref(img)
    feat = torch.stack([o[:, 1:] for o in outs]).mean(0)
    attn = ref.layers[-1].attn
    B, N, C = captured['x'].shape
    qkv = attn.qkv(captured['x']).reshape(B, N, 3, attn.num_heads, -1)
    q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)
    logits = q @ k.transpose(-2, -1) * (C // attn.num_heads)**-0.5
    rank = logits[:, :, 0, 1:].mean(dim=1)
    idx = rank.argsort(dim=-1, descending=True)[:, :topk]
    rows = torch.stack([
        logits[b][:, torch.cat([torch.zeros(1, dtype=torch.long),
                                idx[b] + 1])][:, :, 1:] for b in range(B)
    ])  # [B, H, 1+topk, L]
    return feat, rows.permute(0, 2, 1, 3), idx


@pytest.mark.parametrize('last_layers', [1, 2, 3])
def test_targets_match_a_plain_reference(tmp_path, last_layers):
    vit = random_vit()
    torch.save({'model': layouts(vit)['mae'][0]['model']},
               tmp_path / 'mae.pth')
    gen = generator(tmp_path / 'mae.pth', last_layers=last_layers, topk=5)
    img = torch.randn(3, 3, IMG, IMG)
    feat, attn, idx = gen(img)
    ref_feat, ref_attn, ref_idx = reference_targets(vit, img, last_layers, 5)
    assert feat.shape == (3, 16, 64) and attn.shape == (3, 6, 4, 16)
    torch.testing.assert_close(feat, ref_feat, rtol=1e-4, atol=1e-4)
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(attn, ref_attn, rtol=1e-4, atol=1e-4)


def test_without_attention_target(tmp_path):
    torch.save(layouts(random_vit())['mae'][0], tmp_path / 'mae.pth')
    gen = generator(tmp_path / 'mae.pth', use_attention_target=False)
    feat, attn, idx = gen(torch.randn(1, 3, IMG, IMG))
    assert attn is None and idx is None and feat.shape == (1, 16, 64)


def test_position_embedding_is_interpolated(tmp_path):
    vit = random_vit()  # 32 px, 4 x 4 patches
    torch.save(layouts(vit)['mae'][0], tmp_path / 'mae.pth')
    gen = TECTargetGenerator(checkpoint=str(tmp_path / 'mae.pth'),
                             arch=TINY_ARCH, img_size=64, patch_size=PATCH,
                             topk=5)
    expected = resize_pos_embed(vit.pos_embed.detach(), (4, 4), (8, 8),
                                'bicubic', 1)
    torch.testing.assert_close(gen.vit.pos_embed, expected)
    feat, _, _ = gen(torch.randn(1, 3, 64, 64))
    assert feat.shape == (1, 64, 64)


def test_frozen_and_always_in_eval_mode(tmp_path):
    torch.save(layouts(random_vit())['mae'][0], tmp_path / 'mae.pth')
    gen = generator(tmp_path / 'mae.pth')
    gen.train()
    assert not gen.training and not gen.vit.training
    assert not any(p.requires_grad for p in gen.parameters())
    img = torch.randn(1, 3, IMG, IMG, requires_grad=True)
    feat, attn, _ = gen(img)
    assert not feat.requires_grad and not attn.requires_grad


def test_missing_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='checkpoint is not set'):
        TECTargetGenerator(checkpoint=None, arch=TINY_ARCH, img_size=IMG,
                           patch_size=PATCH)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        generator(tmp_path / 'nope.pth')


def test_wrong_architecture_is_an_error_with_advice(tmp_path):
    torch.save(layouts(random_vit())['mae'][0], tmp_path / 'tiny.pth')
    with pytest.raises(CheckpointLayoutError) as err:
        TECTargetGenerator(checkpoint=str(tmp_path / 'tiny.pth'), arch='b',
                           img_size=IMG, patch_size=PATCH)
    message = str(err.value)
    assert 'embed_dims=64' in message and 'embed_dims=768' in message
    assert 'tiny.pth' in message and 'arch' in message


def test_missing_block_is_an_error(tmp_path):
    ckpt, _ = layouts(random_vit())['mae']
    del ckpt['model']['blocks.1.attn.proj.weight']
    torch.save(ckpt, tmp_path / 'broken.pth')
    with pytest.raises(CheckpointLayoutError,
                       match='layers.1.attn.proj.weight'):
        generator(tmp_path / 'broken.pth')


def test_unknown_layout_and_foreign_keys_are_errors(tmp_path):
    torch.save({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}},
               tmp_path / 'resnet.pth')
    with pytest.raises(CheckpointLayoutError, match='Unknown checkpoint'):
        generator(tmp_path / 'resnet.pth')
    ckpt, _ = layouts(random_vit())['mae']
    ckpt['model']['dist_token'] = torch.zeros(1, 1, 64)  # distilled DeiT
    torch.save(ckpt, tmp_path / 'deit_distilled.pth')
    with pytest.raises(CheckpointLayoutError, match='dist_token'):
        generator(tmp_path / 'deit_distilled.pth')
