"""The speed switches: same results as the plain path, clean fallbacks."""
import pytest
import torch
from mmengine.config import Config

import mmtec  # noqa: F401
from mmtec.models import TECDecoder
from mmtec.registry import MODELS
from mmtec.utils import (adapt_amp_to_gpu, adapt_to_cpu,
                         drop_unsupported_fused_optimizer)
from mmtec.utils import launch
from test_reference_step import (build_randomised, fixed_masking_noise,
                                 step_inputs)
from vit_checkpoints import IMG, TINY_ARCH, layouts, random_vit


@pytest.fixture(scope='module')
def base_path(tmp_path_factory):
    path = tmp_path_factory.mktemp('base') / 'base.pth'
    torch.save(layouts(random_vit())['mae'][0], path)
    return path


def random_decoder(**switches):
    torch.manual_seed(0)
    dec = TECDecoder(num_patches=16, in_channels=24, embed_dims=32,
                     num_layers=2, num_heads=4, target_channels=48,
                     target_num_heads=3, **switches)
    dec.init_weights()
    with torch.no_grad():
        for p in dec.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.2)
    return dec


def decoder_outputs_and_grads(dec, latent, ids_restore, topk_idx):
    dec.zero_grad(set_to_none=True)
    feat, attn = dec(latent, ids_restore, topk_idx)
    # weight the outputs randomly so every element's gradient matters
    g = torch.Generator().manual_seed(3)
    (feat * torch.randn(feat.shape, generator=g)).sum().backward(
        retain_graph=True)
    (attn * torch.randn(attn.shape, generator=g)).sum().backward()
    return feat.detach(), attn.detach(), {
        n: p.grad.clone() for n, p in dec.named_parameters() if p.requires_grad
    }


@pytest.mark.parametrize('switch', ['batch_branches', 'attention_rows_only'])
def test_decoder_switch_equals_the_two_pass_path(switch):
    latent = torch.randn(3, 5, 24)  # class token + 4 visible of 16
    ids_restore = torch.stack([torch.randperm(16) for _ in range(3)])
    topk_idx = torch.tensor([[3, 7, 0], [15, 2, 9], [4, 5, 6]])
    plain = decoder_outputs_and_grads(random_decoder(), latent, ids_restore,
                                      topk_idx)
    fast = decoder_outputs_and_grads(random_decoder(**{switch: True}),
                                     latent, ids_restore, topk_idx)
    for a, b in zip(plain[:2], fast[:2]):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
    # gradients of the shared blocks sum the two branches' contributions in
    # another order (one batch instead of two), so they agree to fp32
    # summation rounding: 1e-5, the reference test's tolerance
    assert plain[2].keys() == fast[2].keys()
    for name in plain[2]:
        torch.testing.assert_close(fast[2][name], plain[2][name], rtol=1e-5,
                                   atol=1e-5, msg=lambda m: f'{name}: {m}')


def test_all_switches_give_the_plain_losses(base_path):
    img, noise = step_inputs(seed=5)
    plain = build_randomised(
        base_path, target_generator=dict(inference_mode=False))
    fast = build_randomised(
        base_path,
        neck=dict(batch_branches=True, attention_rows_only=True),
        target_generator=dict(inference_mode=True))
    with fixed_masking_noise(noise):
        a = plain.loss(img, None)
        b = fast.loss(img, None)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-5)


def test_bf16_base_holds_bf16_weights_and_ignores_autocast(base_path):
    cfg = dict(type='TECTargetGenerator', checkpoint=str(base_path),
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


def test_bf16_base_trains_the_new_model(base_path):
    model = build_randomised(
        base_path, target_generator=dict(weights_dtype='bfloat16'))
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
    monkeypatch.setattr(launch, 'fused_optimizer_supported',
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


def test_gpu_recipes_use_the_switches_and_cpu_runs_fp32():
    import glob
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    recipes = sorted(glob.glob(osp.join(root, 'configs', 'tec_vit-*.py')))
    assert len(recipes) == 6
    for path in recipes:
        cfg = Config.fromfile(path)
        assert cfg.optim_wrapper.dtype == 'bfloat16', path
        assert cfg.optim_wrapper.optimizer.fused is True, path
        assert cfg.model.target_generator.weights_dtype == 'bfloat16', path
        assert cfg.model.neck.batch_branches, path
        assert cfg.model.neck.attention_rows_only, path
    cfg.launcher = 'none'
    adapt_to_cpu(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.model.target_generator.weights_dtype is None


def test_fused_fallback_keeps_the_whole_recipe_optimizer(monkeypatch):
    """Dropping ``fused`` must leave every other optimizer setting: the
    recipes' lr, betas, weight decay, eps and per-parameter rules."""
    import copy
    import glob
    import os.path as osp

    from test_run_checks import TinyViTLike, build_wrapper
    monkeypatch.setattr(launch, 'fused_optimizer_supported',
                        lambda *args: False)
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
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
    assert decays[id(model.proj.weight)] == 0.05
    for p in (model.proj.bias, model.norm.weight, model.pos_embed):
        assert decays[id(p)] == 0.0
