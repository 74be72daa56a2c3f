"""DINOv2, DINOv2 with registers, CLIP and DeiT-III as TEC bases, read from
their release layouts with no arch, checked against the producer's own
implementation (timm, open_clip)."""
import logging
import os
import types

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmtec.converters import read_vit
from mmtec.models import TECTargetGenerator
from paths import ROOT
from release_layouts import (
    TIMM_NAMES,
    deit3_release,
    dinov2_release,
    openclip_model,
    openclip_release,
    reference_model,
    reference_targets,
    timm_vit,
)
from timeouts import TOOL_S

KINDS = sorted(TIMM_NAMES)


def release(kind):
    if kind.startswith('dinov2'):
        return dinov2_release(kind)
    if kind == 'deit3':
        return deit3_release()
    return openclip_release(quick_gelu=kind == 'clip_quickgelu')


def differences(ours, ref):
    """Max absolute and relative (to the reference's largest value)
    difference."""
    diff = (ours.float() - ref.float()).abs().max().item()
    return diff, diff / ref.abs().max().item()


@pytest.fixture(scope='module', params=KINDS)
def base(request, tmp_path_factory):
    kind = request.param
    ckpt = release(kind)
    path = tmp_path_factory.mktemp(kind) / f'{kind}.pth'
    torch.save(ckpt, path)
    return kind, str(path), reference_model(kind, ckpt)


def test_release_files_have_the_real_structure():
    dino = dinov2_release('dinov2')
    assert dino['mask_token'].shape == (1, 128)
    assert dino['pos_embed'].shape == (1, 1 + 6 * 6, 128)
    for key in ('cls_token', 'patch_embed.proj.bias', 'blocks.0.ls1.gamma',
                'blocks.2.ls2.gamma', 'blocks.0.mlp.fc1.weight',
                'norm.weight'):
        assert key in dino
    reg = dinov2_release('dinov2_reg')
    assert reg['register_tokens'].shape == (1, 4, 128)
    assert reg['pos_embed'].shape == (1, 1 + 6 * 6, 128)
    giant = dinov2_release('dinov2_g')
    assert giant['blocks.0.mlp.w12.weight'].shape == (2 * 512, 192)
    assert giant['blocks.0.mlp.w3.weight'].shape == (192, 512)
    deit = deit3_release()['model']
    assert deit['pos_embed'].shape == (1, 4 * 4, 128)  # no class slot
    assert 'blocks.0.gamma_1' in deit and 'head.weight' in deit
    clip = openclip_release(quick_gelu=False)
    assert clip['visual.class_embedding'].shape == (128, )
    assert clip['visual.positional_embedding'].shape == (1 + 4 * 4, 128)
    assert 'visual.conv1.bias' not in clip
    for key in ('visual.ln_pre.weight', 'visual.proj', 'visual.ln_post.bias',
                'visual.transformer.resblocks.0.attn.in_proj_weight',
                'visual.transformer.resblocks.2.mlp.c_proj.weight',
                'token_embedding.weight', 'text_projection', 'logit_scale',
                'transformer.resblocks.0.attn.in_proj_weight'):
        assert key in clip, key


def test_targets_equal_the_producers_with_no_arch(base):
    kind, path, ref = base
    _, patch, grid = TIMM_NAMES[kind]
    logger, messages = MMLogger.get_current_instance(), logging.Handler()
    messages.emit = lambda record: log.append(record.getMessage())
    log = []
    logger.addHandler(messages)
    try:
        gen = TECTargetGenerator(path, img_size=patch * grid,
                                 patch_size=patch, topk=5,
                                 quick_gelu=kind == 'clip_quickgelu')
    finally:
        logger.removeHandler(messages)
    log = '\n'.join(log)
    torch.manual_seed(1)
    img = torch.randn(2, 3, patch * grid, patch * grid)
    feat, attn, idx = gen(img)
    ref_feat, ref_attn, ref_idx = reference_targets(ref, img)
    assert feat.shape == (2, grid * grid, ref_feat.shape[-1])
    assert attn.shape == (2, 6, ref_feat.shape[-1] // 64, grid * grid)
    for ours, theirs in ((feat, ref_feat), (attn, ref_attn)):
        absolute, relative = differences(ours, theirs)
        print(f'{kind}: max abs {absolute:.3g}, rel {relative:.3g}')
        assert relative < 1e-6, (kind, absolute, relative)
    assert torch.equal(idx, ref_idx)
    layout = read_vit(path)[1]['layout']
    assert layout == dict(dinov2_reg='dinov2', dinov2_g='dinov2',
                          deit3='timm', clip_quickgelu='openclip',
                          clip='openclip').get(kind, kind)
    assert f'({layout} layout): embed_dims={ref_feat.shape[-1]} depth=3 ' \
        f'heads={ref_feat.shape[-1] // 64} (from the width) patch={patch}' \
        in log
    assert ('registers=4' if kind == 'dinov2_reg' else 'registers=0') in log
    assert ('pre_norm=True' if 'clip' in kind else 'layer_scale=True') in log


@pytest.mark.parametrize('quick_gelu', [False, True])
def test_clip_feature_target_equals_open_clips_blocks(tmp_path, quick_gelu):
    """The same file through open_clip's own image tower."""
    ckpt = openclip_release(quick_gelu)
    torch.save(ckpt, tmp_path / 'clip.pth')
    model = openclip_model(quick_gelu)
    model.load_state_dict(ckpt)
    outs = []
    for block in model.visual.transformer.resblocks[-2:]:
        block.register_forward_hook(lambda m, i, o: outs.append(o))
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.encode_image(img)
    ref = torch.stack(outs).mean(0)[:, 1:]
    gen = TECTargetGenerator(str(tmp_path / 'clip.pth'), img_size=64,
                             patch_size=16, topk=5, quick_gelu=quick_gelu)
    assert differences(gen(img)[0], ref)[1] < 1e-6


def test_each_detected_part_matters(tmp_path):
    """A part left out (QuickGELU, registers, the class slot added to a
    class token) changes the targets: the parity above is not vacuous."""
    img = torch.randn(1, 3, 64, 64)
    ckpt = openclip_release(quick_gelu=True)
    torch.save(ckpt, tmp_path / 'openai.pth')
    ref = reference_targets(reference_model('clip_quickgelu', ckpt), img)[0]
    gelu = TECTargetGenerator(str(tmp_path / 'openai.pth'), img_size=64,
                              patch_size=16, topk=5)(img)[0]
    assert differences(gelu, ref)[1] > 1e-3
    ckpt = dinov2_release('dinov2_reg')
    img = torch.randn(1, 3, 84, 84)
    ref = reference_targets(reference_model('dinov2_reg', ckpt), img)[0]
    del ckpt['register_tokens']
    torch.save(ckpt, tmp_path / 'noreg.pth')
    noreg = TECTargetGenerator(str(tmp_path / 'noreg.pth'), img_size=84,
                               patch_size=14, topk=5)(img)[0]
    assert differences(noreg, ref)[1] > 1e-3


def dinov2_interpolate_pos_encoding(pos_embed, grid, registers):
    """What DINOv2's ``interpolate_pos_encoding`` computes for a square
    image (hub settings: offset 0.1 and no antialiasing; with registers
    size and antialiasing)."""
    old = int((pos_embed.shape[1] - 1)**0.5)
    size = dict(size=(grid, grid)) if registers else dict(
        scale_factor=((grid + 0.1) / old, ) * 2)
    patches = F.interpolate(
        pos_embed[:, 1:].reshape(1, old, old, -1).permute(0, 3, 1, 2),
        mode='bicubic', antialias=registers, **size)
    return torch.cat([pos_embed[:, :1],
                      patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)],
                     1)


@pytest.mark.parametrize('kind', ['dinov2', 'dinov2_reg'])
def test_patch_14_base_under_a_patch_16_model(tmp_path, kind):
    """The base sees 64 px as 56 px (4 x 4 patches of 14), its 6 x 6
    position table resized as DINOv2 resizes it; the targets are the
    producer's on that image."""
    ckpt = dinov2_release(kind)
    torch.save(ckpt, tmp_path / 'dinov2.pth')
    gen = TECTargetGenerator(str(tmp_path / 'dinov2.pth'), img_size=64,
                             patch_size=16, topk=5)
    ref = reference_model(kind, ckpt)
    pos = dinov2_interpolate_pos_encoding(
        dinov2_release(kind)['pos_embed'], 4, kind == 'dinov2_reg')
    torch.testing.assert_close(gen.vit.pos_embed, pos, rtol=0, atol=0)
    # the producer's model at 56 px with that table (timm keeps the class
    # slot on the class token with registers)
    small = timm_vit(kind, img_size=56, num_classes=0)
    state = ref.state_dict()
    if kind == 'dinov2_reg':
        state['pos_embed'] = pos[:, 1:]
    else:
        state['pos_embed'] = pos
    small.load_state_dict(state)
    img = torch.randn(2, 3, 64, 64)
    seen = F.interpolate(img, size=(56, 56), mode='bicubic',
                         align_corners=False, antialias=True)
    feat, attn, idx = gen(img)
    ref_feat, ref_attn, ref_idx = reference_targets(small, seen)
    assert feat.shape == (2, 16, 128)
    assert differences(feat, ref_feat)[1] < 1e-6
    assert differences(attn, ref_attn)[1] < 1e-6
    assert torch.equal(idx, ref_idx)


def test_clip_position_table_is_resized_as_open_clip_does(tmp_path):
    from open_clip.model import resize_pos_embed
    ckpt = openclip_release(quick_gelu=False)
    torch.save(ckpt, tmp_path / 'clip.pth')
    gen = TECTargetGenerator(str(tmp_path / 'clip.pth'), img_size=48,
                             patch_size=16, topk=5)
    state = {'visual.positional_embedding':
             ckpt['visual.positional_embedding']}
    resize_pos_embed(state, types.SimpleNamespace(
        visual=types.SimpleNamespace(grid_size=(3, 3))))
    torch.testing.assert_close(gen.vit.pos_embed[0],
                               state['visual.positional_embedding'])


def test_arch_still_overrides_and_is_checked(tmp_path):
    torch.save(dinov2_release('dinov2'), tmp_path / 'dinov2.pth')
    arch = dict(embed_dims=128, num_layers=3, num_heads=4,
                feedforward_channels=512)
    gen = TECTargetGenerator(str(tmp_path / 'dinov2.pth'), arch=arch,
                             img_size=84, patch_size=14, topk=5)
    assert gen.num_heads == 4
    from mmtec.checkpoint import CheckpointLayoutError
    with pytest.raises(CheckpointLayoutError, match='embed_dims=128'):
        TECTargetGenerator(str(tmp_path / 'dinov2.pth'), arch='b',
                           img_size=84, patch_size=14)


@pytest.mark.parametrize('recipe, kind', [
    ('configs/tec_vit-b_dinov2-base_300e_in1k.py', 'dinov2'),
    ('configs/tec_vit-b_clip-base_300e_in1k.py', 'clip_quickgelu')])
def test_recipe_trains_from_a_local_copy_of_its_release(tmp_path, recipe,
                                                        kind):
    """The recipe's model, shrunk, takes a training step on a CPU from a
    tiny file in the release's layout (a patch-14 DINOv2 under the
    patch-16 model; OpenAI's CLIP with QuickGELU)."""
    from mmtec.registry import MODELS
    torch.save(release(kind), tmp_path / 'base.pth')
    cfg = Config.fromfile(os.path.join(ROOT, recipe)).model
    assert cfg.target_generator.arch is None
    assert cfg.target_generator.get('quick_gelu', False) == (kind != 'dinov2')
    cfg.backbone.update(arch=dict(embed_dims=64, num_layers=3, num_heads=4,
                                  feedforward_channels=128), img_size=64)
    cfg.neck.update(embed_dims=32, num_heads=4)
    cfg.target_generator.update(checkpoint=str(tmp_path / 'base.pth'),
                                weights_dtype=None, topk=5)
    model = MODELS.build(cfg)
    model.init_weights()
    assert model.target_generator.base_patch == TIMM_NAMES[kind][1]
    losses = model.loss(torch.randn(2, 3, 64, 64), [])
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.patch_embed.projection.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('kind', ['dinov2_reg', 'deit3', 'clip_quickgelu'])
def test_analysis_tools_read_the_same_files(tmp_path, kind):
    """kNN's and the attention maps' frozen ViT gives the producer's
    normalised class and patch tokens (no registers); the attention-map
    tool draws from the file."""
    import importlib.util

    from PIL import Image

    from mmtec.evaluation import load_frozen_vit
    ckpt = release(kind)
    path = tmp_path / f'{kind}.pth'
    torch.save(ckpt, path)
    quick = kind == 'clip_quickgelu'
    model = load_frozen_vit(str(path), quick_gelu=quick)
    ref = reference_model(kind, ckpt)
    size = model.info['img_size']
    img = torch.randn(2, 3, size, size)
    with torch.no_grad():
        theirs = ref.forward_features(img)
    n = ref.num_prefix_tokens
    theirs = torch.cat([theirs[:, :1], theirs[:, n:]], 1)
    assert differences(model.tokens(img), theirs)[1] < 1e-6
    grid = size // TIMM_NAMES[kind][1]
    assert model.cls_attention(img).shape == (2, 2, grid, grid)

    spec = importlib.util.spec_from_file_location(
        'mmtec_attention_maps',
        os.path.join(ROOT, 'tools', 'visualization', 'attention_maps.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    photo = tmp_path / 'photo.png'
    Image.fromarray(torch.randint(0, 255, (40, 40, 3), dtype=torch.uint8)
                    .numpy()).save(photo)
    out = tmp_path / 'maps.png'
    args = [str(path), '--images', str(photo), '--out', str(out)]
    tool.main(args + ['--quick-gelu'] * quick)
    assert Image.open(out).size[0] > 0


def test_converter_reads_them_and_refuses_what_a_layout_cannot_hold(
        tmp_path):
    import subprocess
    import sys

    from mmpretrain.models.backbones import VisionTransformer
    plain, reg = tmp_path / 'dinov2.pth', tmp_path / 'dinov2_reg.pth'
    torch.save(dinov2_release('dinov2'), plain)
    torch.save(dinov2_release('dinov2_reg'), reg)

    def convert(src, dst, layout):
        return subprocess.run(
            [sys.executable, 'tools/model_converters/tec2vit.py', str(src),
             str(dst), '--layout', layout], capture_output=True, text=True,
            cwd=ROOT, timeout=TOOL_S)

    res = convert(plain, tmp_path / 'mm.pth', 'mmpretrain')
    assert res.returncode == 0, res.stderr
    assert 'dinov2 layout' in res.stdout
    out = torch.load(tmp_path / 'mm.pth')
    assert out['meta']['layer_scale'] and not out['meta']['swiglu']
    vit = VisionTransformer(
        dict(embed_dims=128, num_layers=3, num_heads=2,
             feedforward_channels=512), img_size=84, patch_size=14,
        layer_scale_init_value=1e-5)
    vit.load_state_dict({k[len('backbone.'):]: v
                         for k, v in out['state_dict'].items()})
    res = convert(reg, tmp_path / 'mm_reg.pth', 'mmpretrain')
    assert res.returncode != 0 and 'num_registers' in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = convert(reg, tmp_path / 'timm_reg.pth', 'timm')
    assert res.returncode == 0, res.stderr
    before, _ = read_vit(str(reg))
    after, _ = read_vit(str(tmp_path / 'timm_reg.pth'))
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
