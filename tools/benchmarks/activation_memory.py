"""Memory of one training step of a ViT-L/H backbone, with and without
activation checkpointing (``with_cp``), counted by PyTorch's own allocator.

The backbones are those of the recipes: the fine-tuning ViT of
``--finetune-config`` (all patches, drop path as configured) and TEC's
pretraining encoder (``ConditionalAdapterViT``: 25% of the patches visible,
every block's output kept for the encoder adapter) of ``--pretrain-config``.
``--arch h`` builds the same configs at ViT-H/14 (the encoder adapter with
8 groups of 4 blocks: 32 is not a multiple of TEC's 3). The frozen base
model (no gradients) and the small decoder are not counted.

For each setting one forward + backward runs under ``torch.profiler`` with
``profile_memory=True``; the allocator's records (each op's own allocations
and frees, and frees outside any op, in order) give the bytes allocated
above those allocated before the step: held when the backward starts (the
activations kept for it) and at the peak. Weights and gradients exist
before the step and are not counted. CPU only: on a GPU
``torch.cuda.max_memory_allocated`` tells the same.

Example:
    python tools/benchmarks/activation_memory.py --arch l --batch-size 2
"""
import argparse
import copy
import os.path as osp
import sys

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmtec.models import TEC  # noqa: E402
from mmtec.registry import MODELS  # noqa: E402

FINETUNE = ('configs/benchmarks/'
            'vit-l-p16_tec-300e-pre_8xb64-accum2-coslr-50e_in1k.py')
PRETRAIN = 'configs/tec_vit-l_300e_in1k.py'
ARCH = dict(l=dict(arch='l', patch_size=16), h=dict(arch='h', patch_size=14))
# TEC's encoder adapter fuses groups of 3 blocks; ViT-H's 32 are not a
# multiple of 3, so it is measured with 8 groups of 4
ADAPTERS = dict(l={}, h=dict(num_adapters=8))


def finetune_backbone(config, arch, with_cp):
    cfg = Config.fromfile(osp.join(ROOT, config)).model.backbone
    cfg = copy.deepcopy(cfg)
    cfg.update(ARCH[arch], init_cfg=None, with_cp=with_cp)
    cfg.arch = {'l': 'large', 'h': 'huge'}[arch]
    return MODELS.build(cfg)


def pretrain_backbone(config, arch, with_cp):
    model = Config.fromfile(osp.join(ROOT, config)).model
    backbone = copy.deepcopy(model.backbone)
    backbone.update(ARCH[arch], **ADAPTERS[arch], with_cp=with_cp)
    built, _, _ = TEC.derive_settings(backbone, model.neck,
                                      model.target_generator)
    return built


def step_bytes(model, images):
    """``(held after the forward, peak)``: bytes allocated during one
    forward + backward above those allocated before it, from the
    profiler's allocator records. The gradients exist before the step (as
    in any step but the first), so both are activations and temporaries."""
    from torch.profiler import ProfilerActivity, profile, record_function
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) \
            as prof:
        out = model(images)
        loss = sum(o.float().mean() for o in out if torch.is_tensor(o) and
                   o.is_floating_point())
        with record_function('backward'):
            loss.backward()
    backward = min(e.time_range.start for e in prof.events()
                   if e.name == 'backward')
    # each op's own allocations and frees (children excluded) and the
    # frees outside any op ('[memory]'), in the order they started
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage),
                    key=lambda e: e.time_range.start)
    now = peak = held = 0
    for e in events:
        if e.time_range.start < backward:
            held = now + e.self_cpu_memory_usage
        now += e.self_cpu_memory_usage
        peak = max(peak, now)
    return held, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', choices=sorted(ARCH), default='l')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2,
                        help='torch.set_num_threads (default 2)')
    parser.add_argument('--backbones', nargs='+',
                        choices=['finetune', 'pretrain'],
                        default=['finetune', 'pretrain'])
    parser.add_argument('--finetune-config', default=FINETUNE)
    parser.add_argument('--pretrain-config', default=PRETRAIN)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    builders = dict(finetune=(finetune_backbone, args.finetune_config),
                    pretrain=(pretrain_backbone, args.pretrain_config))
    print(f'ViT-{args.arch.upper()}, batch {args.batch_size}, 224 px, '
          f'CPU fp32, {args.threads} threads')
    print('| backbone | with_cp | MiB held after the forward | '
          'peak MiB in the step |')
    print('| --- | --- | --- | --- |')
    for kind in args.backbones:
        build, config = builders[kind]
        peaks = {}
        for with_cp in (False, True):
            torch.manual_seed(0)
            model = build(config, args.arch, with_cp)
            model.train()
            images = torch.randn(args.batch_size, 3, 224, 224)
            held, peaks[with_cp] = step_bytes(model, images)
            print(f'| {kind} ({type(model).__name__}) | {with_cp} | '
                  f'{held / 2**20:.0f} | {peaks[with_cp] / 2**20:.0f} |',
                  flush=True)
            del model
        print(f'  {kind}: the peak with with_cp is '
              f'{peaks[True] / peaks[False]:.1%} of the peak without it')

if __name__ == '__main__':
    main()
