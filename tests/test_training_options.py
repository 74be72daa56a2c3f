"""Options the recipes leave off, as the authors ran them: activation
checkpointing of the ViT blocks and gradient clipping."""
import os

import pytest
import torch
from mmengine.config import Config

from mmtec.registry import MODELS
from paths import ROOT

TINY = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
BACKBONES = {
    'PretrainedVisionTransformer': dict(
        type='PretrainedVisionTransformer', arch=TINY, img_size=32,
        patch_size=8, out_type='avg_featmap', final_norm=False,
        drop_path_rate=0.1, input_adapter=True),
    'ConditionalAdapterViT': dict(
        type='ConditionalAdapterViT', arch=TINY, img_size=32, patch_size=8,
        drop_path_rate=0.1, adapter_hidden_dims=64),
}


def outputs_and_grads(cfg, state, with_cp):
    """One training forward + backward (same seed: same drop path and
    masking); the first output, every gradient and how many tensors
    autograd kept for the backward pass (a checkpointed block keeps only
    its input; the rest is recomputed)."""
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg, with_cp=with_cp))
    if state is not None:
        model.load_state_dict(state)
    model.train()
    kept = []
    torch.manual_seed(1)
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.append(t) or t, lambda t: t):
        out = model(torch.randn(2, 3, 32, 32))[0]
    out.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return model.state_dict(), out.detach(), grads, len(kept)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_with_cp_recomputes_and_changes_nothing(name):
    state, out, grads, kept = outputs_and_grads(BACKBONES[name], None,
                                                with_cp=False)
    _, out_cp, grads_cp, kept_cp = outputs_and_grads(BACKBONES[name],
                                                     state, with_cp=True)
    assert kept_cp < kept / 3, (kept_cp, kept)
    torch.testing.assert_close(out_cp, out, rtol=0, atol=0)
    assert sorted(grads_cp) == sorted(grads)
    for key in grads:
        torch.testing.assert_close(grads_cp[key], grads[key], rtol=1e-6,
                                   atol=1e-7, msg=key)
    # nothing is recomputed where no gradient is recorded
    model = MODELS.build(dict(BACKBONES[name], with_cp=True))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))


CONFIGS = [
    'configs/benchmarks/vit-l-p16_tec-300e-pre_8xb64-accum2-coslr-50e_in1k.py',
    'configs/tec_vit-l_300e_in1k.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_gradient_clipping_is_off_and_one_option_away(config):
    """Off in the recipes (the authors ran none); the documented
    ``--cfg-options +optim_wrapper.clip_grad.max_norm=3.0`` passes the
    option check and makes the built optimizer wrapper clip."""
    from mmengine.optim import build_optim_wrapper

    from mmtec.run_config.checks import CfgOptionError, check_cfg_options
    cfg = Config.fromfile(os.path.join(ROOT, config))
    assert cfg.optim_wrapper.get('clip_grad') is None
    with pytest.raises(CfgOptionError):  # the parent key does not exist
        check_cfg_options(cfg, {'optim_wrapper.clip_grad.max_norm': 3.0})
    cfg.merge_from_dict(check_cfg_options(
        cfg, {'+optim_wrapper.clip_grad.max_norm': 3.0}))
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=3.0)
    layer = torch.nn.Linear(4, 4)
    wrapper = build_optim_wrapper(layer, dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.0),
        clip_grad=cfg.optim_wrapper.clip_grad))
    wrapper.backward(1e3 * layer(torch.ones(1, 4)).sum())
    wrapper.step()  # clips the gradients in place first
    norm = torch.cat([p.grad.flatten() for p in layer.parameters()]).norm()
    assert norm == pytest.approx(3.0, rel=1e-4)
