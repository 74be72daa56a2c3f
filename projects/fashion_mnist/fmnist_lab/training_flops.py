"""Training compute of a pretraining config, counted by torch's FLOP counter.

One training step (forward and backward of the loss) of the model a config
builds is run on a batch of random images under
:class:`torch.utils.flop_counter.FlopCounterMode`; its count divided by the
batch size is the compute per training image. A frozen part of the model
(TEC's base model) runs under ``no_grad`` and so counts its forward pass
only. Optimizer updates are not counted (element-wise, no matmuls).
"""
from typing import Dict, Optional

import torch
from mmengine.config import Config


def train_flops_per_image(config: str,
                          cfg_options: Optional[Dict] = None,
                          batch_size: int = 8,
                          img_size: int = 28,
                          seed: int = 0,
                          num_views: int = 1) -> float:
    """FLOPs of one training step of ``config``'s model, per image.

    Args:
        config (str): MMEngine pretraining config (MAE, TEC, ...).
        cfg_options (dict, optional): Config overrides (dotted keys), e.g.
            TEC's base checkpoint.
        batch_size (int): Images in the counted step (the count is linear in
            it). Defaults to 8.
        img_size (int): Side of the random square images. Defaults to 28.
        seed (int): Seed of the images and the random masks. Defaults to 0.
        num_views (int): Views per training image (MoCo v3: 2, a list of
            batches as MMPretrain's ``MultiView`` gives them). Defaults to 1.

    Returns:
        float: Forward + backward FLOPs per training image (all its views).

    Example:
        >>> from fmnist_lab import project_config
        >>> flops = train_flops_per_image(
        ...     project_config('mae_vit-w64d3-p7_fmnist.py'), batch_size=2)
        >>> 1e7 < flops < 1e8
        True
    """
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode

    from mmtec.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if 'data_preprocessor' in cfg and 'data_preprocessor' not in cfg.model:
        cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    views = [
        torch.randint(0, 256, (batch_size, 3, img_size, img_size),
                      generator=generator, dtype=torch.uint8)
        for _ in range(num_views)
    ]
    batch = dict(
        # a collated batch, as the dataloader's default_collate gives it
        inputs=views[0] if num_views == 1 else views,
        data_samples=[DataSample() for _ in range(batch_size)])
    with FlopCounterMode(display=False) as counter:
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()
    return counter.get_total_flops() / batch_size
