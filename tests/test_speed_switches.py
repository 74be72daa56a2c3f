"""The switches that change numerics or the runtime (the base model's
weights dtype, the fused optimizer, mixed precision): their results and
clean fallbacks. The exact speed-ups are the only path and are pinned by
tests/test_reference_step.py."""
import pytest
import torch
from mmengine.config import Config

import mmtec  # noqa: F401
from mmtec.registry import MODELS
from mmtec.run_config import adapt
from mmtec.run_config.adapt import (
    adapt_amp_to_gpu,
    adapt_to_cpu,
    drop_unsupported_fused_optimizer,
)
from test_reference_step import build_randomised
from vit_checkpoints import IMG, TINY_ARCH


def test_bf16_base_holds_bf16_weights_and_ignores_autocast(tiny_base):
    cfg = dict(type='TECTargetGenerator', checkpoint=str(tiny_base),
               arch=TINY_ARCH, img_size=IMG, patch_size=8, topk=3)
    fp32 = MODELS.build(cfg)
    bf16 = MODELS.build(dict(cfg, weights_dtype='bfloat16'))
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    img = torch.randn(2, 3, IMG, IMG)
    feat, attn, topk = bf16(img)
    assert feat.dtype == attn.dtype == torch.bfloat16
    # an outer fp16 autocast would re-cast every weight at each step: the
    # bf16 base runs with autocast off, so the result is the same
    with torch.autocast('cpu', dtype=torch.float16):
        feat_ac, attn_ac, topk_ac = bf16(img)
    assert torch.equal(feat_ac, feat) and torch.equal(topk_ac, topk)
    # and close to the fp32 targets (bf16 has 8 bits of mantissa)
    feat32, attn32, _ = fp32(img)
    torch.testing.assert_close(feat.float(), feat32, rtol=0.05, atol=0.05)
    with pytest.raises(ValueError, match='weights_dtype'):
        MODELS.build(dict(cfg, weights_dtype='int8'))


def test_bf16_base_trains_the_new_model(tiny_base):
    model = build_randomised(
        tiny_base, target_generator=dict(weights_dtype='bfloat16'))
    losses = model.loss(torch.randn(2, 3, IMG, IMG), None)
    assert all(v.dtype == torch.float32 and torch.isfinite(v)
               for v in losses.values())
    sum(losses.values()).backward()
    assert model.neck.attention_branch.pred.weight.grad is not None


def test_fused_adamw_gives_the_foreach_step():
    torch.manual_seed(0)
    params = [torch.randn(5, 7), torch.randn(7)]
    grads = [torch.randn_like(p) for p in params]
    results = []
    for fused in (False, True):
        ps = [torch.nn.Parameter(p.clone()) for p in params]
        opt = torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.95),
                                weight_decay=0.05, fused=fused)
        for _ in range(3):
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            opt.step()
        results.append([p.detach() for p in ps])
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


def optim_cfg(**optimizer):
    return Config(dict(
        launcher='none',
        optim_wrapper=dict(type='AmpOptimWrapper', dtype='bfloat16',
                           loss_scale='dynamic',
                           optimizer=dict(type='AdamW', lr=1e-3,
                                          **optimizer))))


def test_fused_optimizer_falls_back_where_unsupported(monkeypatch):
    cfg = optim_cfg(fused=True)
    drop_unsupported_fused_optimizer(cfg, 'cpu')
    assert cfg.optim_wrapper.optimizer.fused is True  # torch has it on CPU
    monkeypatch.setattr(adapt, 'fused_optimizer_supported',
                        lambda *args: False)
    adapt_to_cpu(cfg)
    assert 'fused' not in cfg.optim_wrapper.optimizer
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'dtype' not in cfg.optim_wrapper


def test_bf16_recipe_falls_back_to_fp16_on_gpus_without_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: False)
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda: 'Old GPU')
    cfg = optim_cfg()
    adapt_amp_to_gpu(cfg)
    assert cfg.optim_wrapper.dtype == 'float16'
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: True)
    cfg = optim_cfg()
    adapt_amp_to_gpu(cfg)
    assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_recipes_use_the_switches_and_auto_base_dtype():
    import glob
    import os.path as osp

    from paths import ROOT as root
    recipes = sorted(glob.glob(osp.join(root, 'configs', 'tec_vit-*.py')))
    assert len(recipes) == 8  # the paper's six, DINOv2 and CLIP bases
    for path in recipes:
        cfg = Config.fromfile(path)
        assert cfg.optim_wrapper.dtype == 'bfloat16', path
        assert cfg.optim_wrapper.optimizer.fused is True, path
        assert cfg.model.target_generator.weights_dtype == 'auto', path
    cfg.launcher = 'none'
    adapt_to_cpu(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    # the base model picks its dtype for the machine itself
    assert cfg.model.target_generator.weights_dtype == 'auto'


@pytest.mark.parametrize('native', ['', 'CPU flags amx_bf16 (x86_64)'])
def test_auto_base_dtype_follows_the_hardware(tiny_base, native,
                                              monkeypatch):
    from mmengine.logging import MMLogger

    from mmtec.models.target_generators import tec_target_generator
    monkeypatch.setattr(tec_target_generator, 'native_bf16', lambda: native)
    logged = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'info',
                        logged.append)
    base = MODELS.build(
        dict(type='TECTargetGenerator', checkpoint=str(tiny_base),
             arch=TINY_ARCH, img_size=IMG, patch_size=8, topk=3,
             weights_dtype='auto'))
    expected = torch.bfloat16 if native else torch.float32
    assert {p.dtype for p in base.parameters()} == {expected}
    assert any("weights_dtype='auto' -> " + str(expected)[6:] in m
               for m in logged), logged


def test_cpu_bf16_flags_read_from_cpuinfo(tmp_path):
    from mmtec.models.utils.speed_switches import cpu_bf16_flags
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse avx512f '
                    'avx512_bf16 amx_tile amx_bf16\n')
    assert cpu_bf16_flags(str(info)) == ['amx_bf16', 'avx512_bf16']
    info.write_text('processor\t: 0\nflags\t\t: fpu sse avx2\n')
    assert cpu_bf16_flags(str(info)) == []
    assert cpu_bf16_flags(str(tmp_path / 'missing')) == []


def test_native_bf16_says_no_on_a_cpu_without_bf16(tmp_path, monkeypatch):
    import platform

    from mmtec.models.utils.speed_switches import cpu_bf16_flags, native_bf16
    # the CPU's answer, also on a machine with a GPU
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n')
    assert native_bf16(str(info)) == ''
    info.write_text('processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n')
    assert native_bf16(str(info)) == \
        f'CPU flags avx512_bf16 ({platform.machine()})'
    assert native_bf16(str(tmp_path / 'missing')) == ''
    # this machine: what its own /proc/cpuinfo says
    assert bool(native_bf16()) == bool(cpu_bf16_flags())


def test_fused_fallback_keeps_the_whole_recipe_optimizer(monkeypatch):
    """Dropping ``fused`` must leave every other optimizer setting: the
    recipes' lr, betas, weight decay, eps and per-parameter rules."""
    import copy
    import glob
    import os.path as osp

    from test_run_checks import TinyViTLike, build_wrapper
    monkeypatch.setattr(adapt, 'fused_optimizer_supported',
                        lambda *args: False)
    from paths import ROOT as root
    recipes = sorted(glob.glob(osp.join(root, 'configs', 'tec_vit-*.py')))
    for path in recipes:
        cfg = Config.fromfile(path)
        cfg.launcher = 'none'
        before = copy.deepcopy(cfg.optim_wrapper.to_dict())
        assert before['optimizer']['betas'] == (0.9, 0.95), path
        assert before['optimizer']['weight_decay'] == 0.05, path
        adapt_to_cpu(cfg)
        after = cfg.optim_wrapper.to_dict()
        expected = dict(before['optimizer'])
        assert expected.pop('fused') is True
        assert after['optimizer'] == expected, path
        for key in ('constructor', 'paramwise_cfg', 'accumulative_counts'):
            assert after[key] == before[key], (path, key)
    # the optimizer built from the fallback config uses those settings
    cfg = Config.fromfile(recipes[0])
    cfg.launcher = 'none'
    adapt_to_cpu(cfg)
    optimizer = build_wrapper(TinyViTLike(), cfg.optim_wrapper).optimizer
    assert type(optimizer) is torch.optim.AdamW
    assert not optimizer.defaults['fused']
    lr = 1.5e-4 * 4096 / 256
    for group in optimizer.param_groups:
        assert group['lr'] == pytest.approx(lr)
        assert group['betas'] == (0.9, 0.95)
        assert group['eps'] == 1e-8
    model = TinyViTLike()
    optimizer = build_wrapper(model, cfg.optim_wrapper).optimizer
    decays = {id(p): g['weight_decay'] for g in optimizer.param_groups
              for p in g['params']}
    # timm 0.3.2's add_weight_decay, as the recipes: 1-D parameters and
    # biases undecayed, every other trained tensor decayed (a trained
    # [1, N, C] table too, as the class and mask tokens)
    for p in (model.proj.weight, model.pos_embed):
        assert decays[id(p)] == 0.05
    for p in (model.proj.bias, model.norm.weight):
        assert decays[id(p)] == 0.0
