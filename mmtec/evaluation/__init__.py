"""Evaluation of frozen features: weighted kNN and linear probe."""
from .benchmark import build_eval_datasets, evaluate_checkpoint
from .features import FrozenViT, load_frozen_vit
from .knn import (
    KNN_K,
    KNN_TEMPERATURE,
    knn_accuracy,
    knn_scores,
    topk_accuracy,
)
from .linear_probe import linear_probe

__all__ = [
    'KNN_K', 'KNN_TEMPERATURE', 'knn_scores', 'knn_accuracy', 'topk_accuracy',
    'linear_probe', 'FrozenViT', 'load_frozen_vit', 'build_eval_datasets',
    'evaluate_checkpoint'
]
