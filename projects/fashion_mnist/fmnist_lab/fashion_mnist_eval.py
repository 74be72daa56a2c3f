"""Frozen-feature evaluation of the Fashion-MNIST demo and study.

Both evaluate every pretrained model the same way: weighted kNN (cosine,
mmtec's ``KNN_K`` neighbours, temperature ``KNN_TEMPERATURE``) and a linear
probe on frozen features, the bank / probe
training set from Fashion-MNIST train and the queries from its test split,
each result cached in a JSON file next to the run.
"""
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

from mmtec.evaluation import (
    KNN_K,
    KNN_TEMPERATURE,
    build_eval_datasets,
    evaluate_checkpoint,
)

from .json_records import cached_eval

PROJECT_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def project_config(name: str) -> str:
    """Path of ``<name>`` in this project's ``configs`` folder."""
    return osp.join(PROJECT_ROOT, 'configs', name)


def fashion_mnist_eval_sets(data_root: str,
                            bank_per_class: Optional[int],
                            test_per_class: Optional[int]) -> Tuple:
    """Bank, queries and normalisation of the project's ``fmnist_eval.py``.

    Args:
        data_root (str): Where the IDX files are unpacked.
        bank_per_class (int, optional): Bank images per class (None: all).
        test_per_class (int, optional): Query images per class (None: all).

    Returns:
        tuple: ``(bank, query, normalize)`` for :func:`evaluate_cached`.
    """
    cfg = Config.fromfile(project_config('fmnist_eval.py'))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.num_per_class': bank_per_class,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.num_per_class': test_per_class,
    })
    return build_eval_datasets(cfg)


def evaluate_cached(path: str,
                    checkpoint: Optional[str],
                    eval_sets: Tuple,
                    feature: str,
                    name: str,
                    device: str = 'cpu',
                    batch_size: int = 256,
                    linear: bool = True,
                    num_heads: Optional[int] = None) -> dict:
    """kNN and linear probe of ``checkpoint``, reused from ``path`` if done.

    Args:
        path (str): JSON file of the result.
        checkpoint (str, optional): Pretraining checkpoint; None for the
            raw-pixel reference.
        eval_sets (tuple): From :func:`fashion_mnist_eval_sets`.
        feature (str): ``'cls'``, ``'mean'`` or ``'cls+mean'``.
        name (str): Label of the progress output.
        device (str): Feature-extraction device. Defaults to 'cpu'.
        batch_size (int): Extraction batch size. Defaults to 256.
        linear (bool): Also run the linear probe. Defaults to True.
        num_heads (int, optional): Attention heads of the ViT (not in its
            weights; default: width / 64).

    Returns:
        dict: :func:`mmtec.evaluation.evaluate_checkpoint`'s result and
        ``reused``.
    """
    bank, query, normalize = eval_sets
    settings = dict(checkpoint=checkpoint, bank=_per_class(bank),
                    test=_per_class(query),
                    feature=feature if checkpoint else 'pixels', k=KNN_K,
                    temperature=KNN_TEMPERATURE)
    # recorded only when set: older records still match
    if not linear:
        settings['linear'] = False
    if num_heads:
        settings['num_heads'] = num_heads
    return cached_eval(
        path, settings, lambda: evaluate_checkpoint(
            checkpoint, bank, query, normalize, feature=feature, k=KNN_K,
            temperature=KNN_TEMPERATURE, device=device, name=name,
            batch_size=batch_size, linear=linear, num_heads=num_heads))


def _per_class(dataset) -> Optional[int]:
    return getattr(dataset, 'num_per_class', None)
