"""Inputs and steps shared by the detection and segmentation transfer
tests."""
import numpy as np
import torch


def save_mmdet_checkpoint(src, path):
    """``canonical_to_mmdet(src)`` written to ``path`` as
    ``tools/model_converters/tec2vit.py --layout mmdet`` writes it."""
    from mmtec.converters import canonical_to_mmdet, save_converted
    save_converted(canonical_to_mmdet(src), path, overwrite=True)


def save_mmseg_checkpoint(src, path):
    """``canonical_to_mmseg(src)`` written to ``path`` as
    ``tools/model_converters/tec2vit.py --layout mmseg`` writes it."""
    from mmtec.converters import canonical_to_mmseg, save_converted
    save_converted(canonical_to_mmseg(src), path, overwrite=True)


def make_plain_vit(arch, seed=0, img_size=224, **kwargs):
    """A randomly initialised MMPretrain ViT (the canonical layout) with
    non-trivial norms and biases.

    Args:
        arch (dict): ``embed_dims``, ``num_layers``, ``num_heads``,
            ``feedforward_channels``; a keyword of the same name overrides
            one of them, other keywords go to ``VisionTransformer``.
        seed (int): Seed of the weights.
        img_size (int): Input size (patch 16).
    """
    from mmpretrain.models.backbones import VisionTransformer
    torch.manual_seed(seed)
    arch = dict(arch)
    arch.update({k: kwargs.pop(k) for k in list(kwargs) if k in arch})
    vit = VisionTransformer(
        arch=arch, img_size=img_size, patch_size=16, **kwargs)
    vit.eval()
    with torch.no_grad():
        for name, p in vit.named_parameters():
            if name.endswith('bias') or 'ln' in name:
                p.add_(0.1 * torch.randn_like(p))
    return vit


def sample_photo():
    """A real photo (600x512 BGR) from matplotlib's sample data, or a
    generated image of that size where matplotlib is missing."""
    try:
        import mmcv
        from matplotlib import cbook
        path = cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)
        return mmcv.imread(path)
    except Exception:
        rng = np.random.RandomState(0)
        return (rng.rand(600, 512, 3) * 255).astype(np.uint8)


def train_at_constant_lr(cfg, lr=1e-3):
    """Train a transfer config at a constant ``lr`` (no warm-up: the
    recipes warm up over more iterations than a test runs).

    Returns:
        tuple: The runner after training and its ``IterTimer`` (iteration
        wall times and the last validation metrics).
    """
    from mmengine.runner import Runner

    from runner_hooks import IterTimer
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = lr
    runner = Runner.from_cfg(cfg)
    timer = IterTimer()
    runner.register_hook(timer, priority='VERY_LOW')
    runner.train()
    return runner, timer


def assert_started_from(runner, ckpt):
    """The backbone trained from ``ckpt``, not from random weights: its
    patch embedding moved little from the checkpoint's."""
    src = torch.load(ckpt, weights_only=True)['state_dict']
    w = runner.model.backbone.patch_embed.projection.weight.detach()
    assert (w - src['patch_embed.projection.weight']).abs().max() < 1e-2
