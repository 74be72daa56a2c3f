"""Benchmark TEC's training step against MMPretrain's MAE, switch by switch.

TEC (from an mmtec recipe; random base weights of the recipe's arch, or
of the new model's where the recipe reads the base's from its file, unless
``--base-checkpoint``) and MMPretrain's own MAE are trained in one
process, their steps interleaved so that every variant sees the same
machine state. TEC runs as several *variants*, each the recipe with some
config options (``VARIANTS``), built as ``tools/train.py`` would build it
(variants with the same model config share one model, so the same
weights):

- ``plain``: fp32 base model, for-each AdamW;
- one variant per switch alone: ``bf16_base``
  (``model.target_generator.weights_dtype='bfloat16'``), ``fused_adamw``
  (``optim_wrapper.optimizer.fused=True``);
- ``all``: the recipe as it is (base ``weights_dtype='auto'``: bf16 where
  the machine has native bf16, fused AdamW); ``all+compile``: the same
  with ``torch.compile`` of encoder, decoder and base model.

For each: s/step (median, quartiles), img/s, peak memory (CUDA), model
FLOPs per image counted with ``torch.utils.flop_counter.FlopCounterMode``
on one step (forward + backward; split into base model, encoder, encoder
adapter, decoder, losses), achieved FLOP/s and MFU against the device's
dense peak (``--peak-tflops`` overrides the table). ``--data-root`` times
the step end to end from an image folder through the recipe's dataloader.
Writes JSON and a markdown table (``--out``).

Examples:
    python tools/benchmarks/tec_bench.py --batch-size 2 --iters 5 \
        --out work_dirs/bench/cpu
    python tools/benchmarks/tec_bench.py --device cuda --batch-size 256 \
        --amp bf16 --iters 20 --out work_dirs/bench/gpu
    python tools/benchmarks/tec_bench.py --device cuda --batch-size 256 \
        --amp bf16 --data-root data/imagenet --data-prefix train \
        --variants all --out work_dirs/bench/gpu_e2e
"""
import argparse
import copy
import json
import os
import os.path as osp
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/
import stack_check  # noqa: E402,F401  (a hint, not a traceback)

# isort: split

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import mmtec  # noqa: E402,F401
from mmtec.registry import MODELS  # noqa: E402

# dense tensor-core peaks in TFLOP/s (no sparsity), per autocast dtype;
# 'none' is TF32 where the GPU has it
PEAK_TFLOPS = {
    'H200': dict(bf16=989., fp16=989., none=494.),
    'H100': dict(bf16=989., fp16=989., none=494.),
    'A100': dict(bf16=312., fp16=312., none=156.),
}

# variant -> config options (dotted keys) on top of the recipe
_PLAIN = {'model.target_generator.weights_dtype': 'float32',
          'optim_wrapper.optimizer.fused': False}
VARIANTS = {
    'plain': _PLAIN,
    'bf16_base': dict(_PLAIN, **{
        'model.target_generator.weights_dtype': 'bfloat16'}),
    'fused_adamw': dict(_PLAIN, **{'optim_wrapper.optimizer.fused': True}),
    'all': {},
    'all+compile': {f'model.{part}.compile': True
                    for part in ('backbone', 'neck', 'target_generator')},
}


def mae_config(name):
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs',
                    name)
    return Config.fromfile(path).model


def random_base_arch(model_cfg) -> dict:
    """The ViT sizes of the random base: the recipe's ``arch``; where the
    recipe leaves them to the base's file (``arch=None``: the DINOv2 and CLIP
    recipes, whose releases are ViT-Bs as their new models), the new
    model's, as MMPretrain names its ``backbone.arch``."""
    from mmpretrain.models.backbones import VisionTransformer

    from mmtec.models.utils import resolve_arch
    arch = model_cfg.target_generator.get('arch')
    if arch is not None:
        return resolve_arch(arch)
    arch = model_cfg.backbone.get('arch', 'b')
    return dict(arch if isinstance(arch, dict) else
                VisionTransformer.arch_zoo[arch.lower()])


def write_random_base(model_cfg, path):
    from mmpretrain.models.backbones import VisionTransformer
    base_cfg, new_cfg = model_cfg.target_generator, model_cfg.backbone
    # TEC takes the base's image and patch size from the backbone by default
    vit = VisionTransformer(
        arch=random_base_arch(model_cfg), final_norm=True,
        img_size=base_cfg.get('img_size', new_cfg.get('img_size', 224)),
        patch_size=base_cfg.get('patch_size', new_cfg.get('patch_size', 16)))
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in vit.state_dict().items()}}, path)


def without_compile(options):
    """A compiled variant's options, eager: the same operations (for the
    FLOP count)."""
    return {k: v for k, v in options.items() if not k.endswith('.compile')}


class TECVariants:
    """TEC models and optimizers built from the recipe and a variant's
    config options; variants whose model configs are equal share a model.

    Args:
        cfg (Config): The recipe.
        device (str): Where the models train.
    """

    def __init__(self, cfg, device):
        self.cfg = cfg
        self.device = device
        self.models = {}

    def build(self, options):
        """The model and optimizer of the recipe with ``options``."""
        from mmtec.run_config.adapt import drop_unsupported_fused_optimizer
        cfg = copy.deepcopy(self.cfg)
        cfg.merge_from_dict(options)
        drop_unsupported_fused_optimizer(cfg, self.device)
        key = repr(cfg.model.to_dict())
        if key not in self.models:
            torch.manual_seed(0)  # the same initial weights in every model
            model = MODELS.build(cfg.model)
            model.init_weights()
            self.models[key] = model.to(self.device).train()
        model = self.models[key]
        optimizer = dict(cfg.optim_wrapper.optimizer)
        optimizer = getattr(torch.optim, optimizer.pop('type'))(
            [p for p in model.parameters() if p.requires_grad], **optimizer)
        return model, optimizer


# top-level modules called during a step -> part of the model
PARTS = {
    'TECTargetGenerator': 'base model',
    'ConditionalAdapterViT': 'encoder',
    'ConditionalAdapterViT.encoder_adapter': 'encoder adapter',
    'ConditionalAdapterViT.input_adapter': 'input adapter',
    'TECDecoder': 'decoder',
    'MAEViT': 'encoder',
    'MAEPretrainDecoder': 'decoder',
}


def count_flops(step):
    """FLOPs of one training step (forward + backward) and, per part, of
    its forward pass.

    The parts come from a forward-only pass: FlopCounterMode's module
    attribution of backward operations is not reliable (a backward matmul
    can be filed under the loss module). It counts an operation for every
    module on the stack, so a top-level module's count holds its
    submodules'; the adapters are taken out of the encoder, and what ran
    outside any module is 'other'.
    """
    with FlopCounterMode(display=False) as counter:
        step()
    step_total = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        step(forward_only=True)
    counts = {k: sum(v.values()) for k, v in
              counter.get_flop_counts().items()}
    total = counts.pop('Global', 0)
    parts = defaultdict(int)
    for name, n in counts.items():
        if '.' not in name:
            parts[PARTS.get(name, name)] += n
    for sub in ('encoder_adapter', 'input_adapter'):
        n = counts.get('ConditionalAdapterViT.' + sub, 0)
        parts[PARTS['ConditionalAdapterViT.' + sub]] += n
        parts['encoder'] -= n
    parts['other'] = total - sum(
        n for name, n in counts.items() if '.' not in name)
    return step_total, {k: v for k, v in parts.items() if v}


def make_step(model, optimizer, device, amp, batch_source):
    dtype = dict(fp16=torch.float16, bf16=torch.bfloat16).get(amp)
    scaler = torch.amp.GradScaler(device, enabled=amp == 'fp16')

    def step(forward_only=False):
        img = batch_source(model)
        with torch.autocast(device, dtype=dtype or torch.float32,
                            enabled=dtype is not None), \
                torch.set_grad_enabled(not forward_only):
            losses = model.loss(img, None)
            loss = sum(losses.values())
        if forward_only:
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def build_loader(cfg, args):
    from mmengine.runner import Runner
    loader = dict(cfg.train_dataloader)
    loader.update(batch_size=args.batch_size, num_workers=args.workers,
                  persistent_workers=args.workers > 0,
                  pin_memory=args.device == 'cuda')
    loader['dataset'] = dict(loader['dataset'], data_root=args.data_root,
                             data_prefix=args.data_prefix)
    return Runner.build_dataloader(loader, seed=0)


def make_batch_source(args, cfg):
    """A callable giving the next input batch for a model."""
    if not args.data_root:
        size = cfg.model.backbone.get('img_size', 224)
        img = torch.randn(args.batch_size, 3, size, size, device=args.device)
        return lambda model: img
    loaders = {}

    def next_batch(model):
        key = id(model)
        if key not in loaders:
            loaders[key] = [build_loader(cfg, args), None]
        entry = loaders[key]
        if entry[1] is None:
            entry[1] = iter(entry[0])
        try:
            data = next(entry[1])
        except StopIteration:
            entry[1] = iter(entry[0])
            data = next(entry[1])
        inputs = model.data_preprocessor(data, True)['inputs']
        return inputs[0] if isinstance(inputs, list) else inputs

    return next_batch


def profile_step(step, device, top=12):
    """The ``top`` operations of one step by self device (or CPU) time."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step()
        sync(device)
    key = 'self_device_time_total' if device == 'cuda' else \
        'self_cpu_time_total'
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key),
                    reverse=True)[:top]
    total = sum(getattr(e, key) for e in prof.key_averages())
    return [dict(op=e.key, ms=getattr(e, key) / 1e3, calls=e.count,
                 share=getattr(e, key) / total if total else 0.)
            for e in events]


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def peak_for(device, amp, override):
    if override:
        return override * 1e12
    if device != 'cuda':
        return None
    name = torch.cuda.get_device_name()
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[amp] * 1e12
    return None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/tec_vit-b_800e_in1k.py')
    parser.add_argument('--base-checkpoint')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', choices=['none', 'fp16', 'bf16'],
                        default='none')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--variants', default='',
                        help='comma-separated TEC variants (default: all)')
    parser.add_argument('--no-mae', action='store_true')
    parser.add_argument(
        '--mae-config', default='_base_/models/mae_vit-base-p16.py',
        help="MMPretrain config (under its .mim/configs) of the MAE model")
    parser.add_argument('--flops-only', action='store_true',
                        help='count the FLOPs per image and exit')
    parser.add_argument('--profile', default='',
                        help='comma-separated variants (e.g. "TEC plain,TEC '
                        'all") to profile for one step after the timing; '
                        'prints and saves the top kernels')
    parser.add_argument('--peak-tflops', type=float, default=0.)
    parser.add_argument('--data-root', help='image folder: end-to-end mode')
    parser.add_argument('--data-prefix', default='')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--gpu-decode', action='store_true',
                        help='end-to-end mode: decode and augment JPEGs on '
                        'the GPU (the config switch gpu_decode=True)')
    parser.add_argument('--out', default='work_dirs/bench/tec_bench',
                        help='writes <out>.json and <out>.md')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    MMLogger.get_instance('tec_bench', log_level='WARNING')
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, args.config))
    tmp = tempfile.mkdtemp()
    base = args.base_checkpoint
    if base is None:
        base = osp.join(tmp, 'random_base.pth')
        write_random_base(cfg.model, base)
    cfg.model.target_generator.checkpoint = base
    if cfg.get('data_preprocessor') and \
            not cfg.model.get('data_preprocessor'):
        # as MMEngine's Runner does: the config's normalisation
        cfg.model.data_preprocessor = cfg.data_preprocessor
    decode = 'CPU (dataloader workers)'
    if args.gpu_decode:
        from mmtec.run_config.adapt import apply_gpu_decode
        cfg.gpu_decode = True
        if apply_gpu_decode(cfg):
            decode = 'GPU (GPUJPEGDataPreprocessor)'

    names = [v for v in args.variants.split(',') if v] or list(VARIANTS)
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f'--variants: unknown {sorted(unknown)}; choose '
                         f'from {list(VARIANTS)}')
    tec = TECVariants(cfg, args.device)
    source = make_batch_source(args, cfg)
    steps = {}

    def tec_step(options):
        key = repr(sorted(options.items()))
        if key not in steps:  # one optimizer and GradScaler per variant
            steps[key] = make_step(*tec.build(options), args.device,
                                   args.amp, source)
        return steps[key]

    runs = {'TEC ' + n: (tec_step(VARIANTS[n]), VARIANTS[n]) for n in names}
    if not args.no_mae:
        mae = MODELS.build(mae_config(args.mae_config))
        mae.init_weights()
        mae.to(args.device).train()
        mae_opt = torch.optim.AdamW(
            [p for p in mae.parameters() if p.requires_grad], lr=1e-4,
            betas=(0.9, 0.95), foreach=True)
        runs['MAE'] = (make_step(mae, mae_opt, args.device, args.amp,
                                 source), None)

    # FLOPs: one counted eager step per variant
    # (a compiled variant is counted eagerly: the same operations)
    flops = {}
    for name, (step, options) in runs.items():
        if options is not None and options != without_compile(options):
            step = tec_step(without_compile(options))
        flops[name] = count_flops(step)

    if args.flops_only:
        out = {name: dict(gflop_per_img=total / args.batch_size / 1e9,
                          forward_gflop_per_img_parts={
                              k: v / args.batch_size / 1e9
                              for k, v in parts.items()})
               for name, (total, parts) in flops.items()}
        print(json.dumps(out, indent=1))
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '_flops.json', 'w') as f:
            json.dump(dict(command='python ' + ' '.join(sys.argv),
                           torch=torch.__version__, flops=out), f, indent=1)
        return

    times = {name: [] for name in runs}
    first = {}
    peaks = defaultdict(float)
    for i in range(args.warmup + args.iters):
        for name, (step, _) in runs.items():  # interleaved
            sync(args.device)
            if args.device == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            step()
            sync(args.device)
            dt = time.perf_counter() - t0
            if i == 0:
                first[name] = dt
            if i >= args.warmup:
                times[name].append(dt)
            if args.device == 'cuda':
                peaks[name] = max(peaks[name],
                                  torch.cuda.max_memory_allocated() / 2**30)

    profiles = {}
    for name in [n for n in args.profile.split(',') if n]:
        profiles[name] = profile_step(runs[name][0], args.device)

    peak = peak_for(args.device, args.amp, args.peak_tflops)
    device = torch.cuda.get_device_name() if args.device == 'cuda' else \
        f'CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores)'
    results = dict(
        device=device, torch=torch.__version__, batch_size=args.batch_size,
        amp=args.amp, iters=args.iters, warmup=args.warmup,
        mode=f'end-to-end from {args.data_root}, {args.workers} workers, '
        f'decode on {decode}' if args.data_root
        else 'synthetic batch', peak_tflops=peak and peak / 1e12,
        command='python ' + ' '.join(sys.argv), variants={})
    plain = statistics.median(times['TEC plain']) if 'TEC plain' in times \
        else None
    for name, ts in times.items():
        med = statistics.median(ts)
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else ts * 3
        total, parts = flops[name]
        per_img = total / args.batch_size
        entry = dict(
            median_s=med, q1_s=q[0], q3_s=q[2], img_per_s=args.batch_size /
            med, gflop_per_img=per_img / 1e9,
            gflop_per_img_parts={k: v / args.batch_size / 1e9
                                 for k, v in sorted(parts.items())},
            achieved_tflops=total / med / 1e12,
            mfu=total / med / peak if peak else None,
            vs_plain=med / plain if plain else None,
            first_step_s=first[name],
            cfg_options=runs[name][1])
        options = runs[name][1]
        if options and options != without_compile(options):
            entry['compile_s'] = first[name] - med
        if args.device == 'cuda':
            entry['peak_mem_gib'] = peaks[name]
        results['variants'][name] = entry
    results['top_kernels'] = profiles
    results['max_rss_gib'] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 2**20
    write_outputs(results, args.out)
    if args.base_checkpoint is None:
        os.remove(base)


def write_outputs(results, out):
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(results, f, indent=1)
    lines = [
        f"device: {results['device']}; torch {results['torch']}; batch "
        f"{results['batch_size']}; amp {results['amp']}; "
        f"{results['mode']}; {results['iters']} timed steps after "
        f"{results['warmup']} warm-up, interleaved", '',
        '| variant | median s/step (q1-q3) | img/s | step / plain | '
        'GFLOP/img | achieved TFLOP/s | MFU | peak mem GiB | notes |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for name, e in results['variants'].items():
        notes = ''
        if 'compile_s' in e:
            notes = f"compile {e['compile_s']:.0f} s (first step)"
        lines.append(
            f"| {name} | {e['median_s']:.4f} ({e['q1_s']:.4f}-"
            f"{e['q3_s']:.4f}) | {e['img_per_s']:.1f} | "
            + (f"{e['vs_plain']:.3f}" if e['vs_plain'] else '-') +
            f" | {e['gflop_per_img']:.3g} | {e['achieved_tflops']:.3g} | "
            + (f"{100 * e['mfu']:.1f}%" if e['mfu'] else '-') + ' | ' +
            (f"{e['peak_mem_gib']:.2f}" if 'peak_mem_gib' in e else '-') +
            f' | {notes} |')
    parts = sorted({p for e in results['variants'].values()
                    for p in e['gflop_per_img_parts']})
    lines += ['', 'Forward GFLOP per image by part (the step total above '
              'is forward + backward):', '',
              '| variant | ' + ' | '.join(parts) + ' |']
    lines.append('| --- ' * (len(parts) + 1) + '|')
    for name, e in results['variants'].items():
        lines.append(f'| {name} | ' + ' | '.join(
            f"{e['gflop_per_img_parts'][p]:.3g}"
            if p in e['gflop_per_img_parts'] else '-' for p in parts) + ' |')
    for name, rows in results.get('top_kernels', {}).items():
        lines += ['', f'Top operations of one step, {name} (self time):', '',
                  '| op | ms | calls | share |', '| --- | --- | --- | --- |']
        lines += [f"| `{r['op']}` | {r['ms']:.1f} | {r['calls']} | "
                  f"{100 * r['share']:.1f}% |" for r in rows]
    text = '\n'.join(lines) + '\n'
    with open(out + '.md', 'w') as f:
        f.write(text)
    print(text)
    print(f'written: {out}.json, {out}.md')


if __name__ == '__main__':
    main()
