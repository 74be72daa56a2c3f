"""tools/benchmarks/tec_bench.py counts FLOPs right and writes its tables."""
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode

import mmtec  # noqa: F401
from mmtec.registry import MODELS
from paths import ROOT, TINY_CFG
from timeouts import TOOL_S
from vit_checkpoints import layouts, random_vit


def bench(*args, config=TINY_CFG):
    res = subprocess.run(
        [sys.executable, 'tools/benchmarks/tec_bench.py', '--config', config,
         '--no-mae', '--threads', '1', *args],
        cwd=ROOT, capture_output=True, text=True, timeout=TOOL_S)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_flop_count_and_parts(tmp_path):
    base = tmp_path / 'base.pth'
    torch.save(layouts(random_vit())['mae'][0], base)
    bench('--batch-size', '2', '--variants', 'plain,all', '--flops-only',
          '--base-checkpoint', str(base), '--out', str(tmp_path / 'b'))
    flops = json.load(open(tmp_path / 'b_flops.json'))['flops']
    # the same count, made here on the same model: one training step
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.target_generator.checkpoint = str(base)
    model = MODELS.build(cfg.model)
    with FlopCounterMode(display=False) as counter:
        sum(model.loss(torch.randn(2, 3, 32, 32), None).values()).backward()
    plain = flops['TEC plain']
    assert plain['gflop_per_img'] * 1e9 == counter.get_total_flops() / 2
    parts = plain['forward_gflop_per_img_parts']
    assert set(parts) == {'base model', 'encoder', 'encoder adapter',
                          'input adapter', 'decoder'}
    # the variants change the dtype and the optimizer, not the operations
    assert flops['TEC all']['forward_gflop_per_img_parts'] == parts


def test_ablation_run_writes_json_and_markdown(tmp_path):
    out = bench('--batch-size', '2', '--iters', '2', '--warmup', '1',
                '--variants', 'plain,bf16_base,fused_adamw,all',
                '--out', str(tmp_path / 'run'))
    results = json.load(open(tmp_path / 'run.json'))
    assert list(results['variants']) == [
        'TEC plain', 'TEC bf16_base', 'TEC fused_adamw', 'TEC all']
    for entry in results['variants'].values():
        assert entry['median_s'] > 0 and entry['gflop_per_img'] > 0
        assert entry['mfu'] is None  # no GPU peak on a CPU
    assert results['variants']['TEC plain']['vs_plain'] == 1.0
    assert results['variants']['TEC bf16_base']['cfg_options'][
        'model.target_generator.weights_dtype'] == 'bfloat16'
    assert '| TEC all |' in open(tmp_path / 'run.md').read()
    assert 'CPU (1 threads' in out


@pytest.mark.slow
def test_recipe_whose_base_arch_comes_from_the_file(tmp_path):
    # the DINOv2 recipe leaves the base's arch to its file (arch=None): the
    # random base takes the new model's sizes, a ViT-B
    bench('--batch-size', '1', '--variants', 'plain', '--flops-only',
          '--out', str(tmp_path / 'b'),
          config=os.path.join('configs', 'tec_vit-b_dinov2-base_300e_in1k.py'))
    parts = json.load(open(tmp_path / 'b_flops.json'))['flops']['TEC plain'][
        'forward_gflop_per_img_parts']
    # a ViT-B forward on 14 x 14 patches and the class token: 2 x ~86M
    # weights x 197 tokens ~ 34 GFLOP (a ViT-S would be ~9, a ViT-L ~120)
    assert 30 < parts['base model'] < 40, parts
