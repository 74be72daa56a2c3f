"""End-to-end fine-tuning of a pretrained ViT, then its test top-1.

A fine-tuning run is a stage (:func:`pretrain_stage`: resumable, reused when
finished) of the project's fine-tuning config with the pretraining
checkpoint as the backbone's ``Pretrained`` init; its top-1 on the test
split is measured with MMEngine's test loop and cached next to the run.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .json_records import cached_eval
from .pretrain_stage import pretrain_stage

# the fraction of a run spent warming up (MMPretrain: 5 of 100 epochs, TEC:
# 20 of 100), at least 5 iterations
FINETUNE_WARMUP_FRACTION = 0.1


def finetune_top1(name: str,
                  config: str,
                  work_dir: str,
                  checkpoint: Optional[str],
                  epochs: int,
                  data_root: str,
                  train_per_class: Optional[int] = None,
                  test_per_class: Optional[int] = None,
                  batch_size: Optional[int] = None,
                  seed: int = 0,
                  log_interval: Optional[int] = None,
                  stop_at: Optional[float] = None) -> dict:
    """Fine-tune ``checkpoint`` end to end and measure its test top-1.

    Args:
        name (str): Stage name (log prefix and record).
        config (str): Fine-tuning config (an MMPretrain ``ImageClassifier``
            whose backbone has a ``Pretrained`` ``init_cfg``).
        work_dir (str): The run's own folder.
        checkpoint (str, optional): Pretraining checkpoint; None fine-tunes
            from random initialisation (the reference row).
        epochs (int): Fine-tuning epochs.
        data_root (str): Where the Fashion-MNIST IDX files are unpacked.
        train_per_class (int, optional): Labelled training images per
            class (None: all 6,000).
        test_per_class (int, optional): Test images per class (None: all
            1,000).
        batch_size (int, optional): Training batch (default: the config's).
        seed (int): Random seed of the run. Defaults to 0.
        log_interval (int, optional): Logger interval in iterations.
        stop_at (float, optional): The time limit of
            :func:`pretrain_stage`. Defaults to None.

    Returns:
        dict: ``top1`` (%), ``test_size``, ``train_images``, ``wall_s``
        (fine-tuning time), ``checkpoint`` (the fine-tuned model) and
        ``reused``.
    """
    if epochs < 1:
        raise ValueError(f'{name}: fine-tuning needs epochs >= 1, got '
                         f'{epochs}')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'{name}: pretraining checkpoint {checkpoint} does not exist; '
            'train that stage first')
    init = (dict(type='Pretrained', checkpoint=osp.abspath(checkpoint))
            if checkpoint else None)
    options = {
        'model.backbone.init_cfg': init,
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.num_per_class': train_per_class,
    }
    if batch_size:
        options['train_dataloader.batch_size'] = batch_size
    batch = batch_size or Config.fromfile(config).train_dataloader.batch_size
    iters = -(-_num_images(train_per_class) // batch)
    stage = pretrain_stage(
        name, config, work_dir, epochs, options, seed=seed,
        log_interval=log_interval, stop_at=stop_at,
        warmup_epochs=max(FINETUNE_WARMUP_FRACTION * epochs, 5.5 / iters))
    settings = dict(finetuned=stage['checkpoint'], test=test_per_class)
    result = cached_eval(
        osp.join(work_dir, 'test.json'), settings,
        lambda: dict(top1=_test_top1(config, stage['checkpoint'], data_root,
                                     test_per_class, work_dir),
                     test_size=_num_images(test_per_class, test=True)))
    return dict(result, train_images=stage['num_images'],
                wall_s=stage['wall_s'], checkpoint=stage['checkpoint'])


def _num_images(per_class: Optional[int], test: bool = False) -> int:
    if per_class is None:
        return 10000 if test else 60000
    return 10 * per_class


def _test_top1(config, finetuned, data_root, test_per_class, work_dir):
    """Top-1 (%) of the fine-tuned model with MMEngine's test loop."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        # the weights come from the fine-tuned model, not the pretraining
        'model.backbone.init_cfg': None,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.num_per_class': test_per_class,
    })
    cfg.load_from = finetuned
    cfg.work_dir = osp.join(work_dir, 'test')
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    cfg.test_dataloader.pin_memory = False
    metrics = Runner.from_cfg(cfg).test()
    return float(metrics['accuracy/top1'])
