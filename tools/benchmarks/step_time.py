"""Time one training step of TEC and of MMPretrain's MAE, side by side.

Both models are built from their configs (mmtec's TEC recipe, MMPretrain's
own MAE ViT-B/16) and trained on the same random batch; steps alternate
between the models so that both see the same machine state. Prints the
median (and quartiles) of forward + backward + AdamW step per model, and
the TEC / MAE ratio.

Example:
    python tools/benchmarks/step_time.py --batch-size 2 --iters 10
    python tools/benchmarks/step_time.py --device cuda --batch-size 256 \
        --amp fp16 --iters 30
"""
import argparse
import os
import os.path as osp
import statistics
import tempfile
import time

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmtec  # noqa: F401
from mmtec.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def mae_config():
    import mmpretrain
    path = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'configs', '_base_',
        'models', 'mae_vit-base-p16.py')
    return Config.fromfile(path).model


def tec_config(config, base_checkpoint):
    cfg = Config.fromfile(osp.join(ROOT, config)).model
    cfg.target_generator.checkpoint = base_checkpoint
    return cfg


def write_random_base(arch, path):
    from mmpretrain.models.backbones import VisionTransformer
    from mmtec.models.target_generators import resolve_arch
    vit = VisionTransformer(arch=resolve_arch(arch), final_norm=True)
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in vit.state_dict().items()}}, path)


def make_step(model, device, amp):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95))
    dtype = dict(fp16=torch.float16, bf16=torch.bfloat16).get(amp)
    scaler = torch.amp.GradScaler(device, enabled=amp == 'fp16')

    def step(img):
        with torch.autocast(device, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            losses = model.loss(img, None)
            loss = sum(v for v in losses.values())
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/tec_vit-b_800e_in1k.py')
    parser.add_argument('--base-checkpoint', help='base model weights '
                        '(default: a random ViT of the config arch)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', choices=['none', 'fp16', 'bf16'],
                        default='none')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: leave as is)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)

    tmp = tempfile.mkdtemp()
    base = args.base_checkpoint
    if base is None:
        base = osp.join(tmp, 'random_base.pth')
        arch = Config.fromfile(osp.join(
            ROOT, args.config)).model.target_generator.arch
        write_random_base(arch, base)
    models = {
        'TEC': MODELS.build(tec_config(args.config, base)),
        'MAE': MODELS.build(mae_config()),
    }
    steps = {}
    for name, model in models.items():
        model.init_weights()
        model.to(args.device).train()
        steps[name] = make_step(model, args.device, args.amp)
    img = torch.randn(args.batch_size, 3, 224, 224, device=args.device)

    times = {name: [] for name in models}
    for i in range(args.warmup + args.iters):
        for name, step in steps.items():  # interleaved
            sync(args.device)
            t0 = time.perf_counter()
            step(img)
            sync(args.device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)

    device = torch.cuda.get_device_name() if args.device == 'cuda' \
        else f'CPU ({torch.get_num_threads()} threads)'
    print(f'device: {device}; batch {args.batch_size} x 224 px; amp: '
          f'{args.amp}; {args.iters} timed steps after {args.warmup} '
          f'warm-up; torch {torch.__version__}')
    print(f'{"model":<6}{"median s/step":>15}{"q1":>10}{"q3":>10}'
          f'{"img/s":>10}')
    medians = {}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else ts * 3
        medians[name] = statistics.median(ts)
        print(f'{name:<6}{medians[name]:>15.4f}{q[0]:>10.4f}{q[2]:>10.4f}'
              f'{args.batch_size / medians[name]:>10.1f}')
    print(f'ratio TEC / MAE (median step time): '
          f'{medians["TEC"] / medians["MAE"]:.2f}')
    if args.device == 'cuda':
        print(f'peak memory: {torch.cuda.max_memory_allocated() / 2**30:.2f}'
              ' GiB (both models)')
    os.remove(base) if args.base_checkpoint is None else None


if __name__ == '__main__':
    main()
