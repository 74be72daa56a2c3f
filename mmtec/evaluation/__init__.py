"""Evaluation of frozen features: weighted kNN and linear probe."""
from .benchmark import build_eval_datasets, evaluate_checkpoint  # noqa: F401
from .classifiers import (  # noqa: F401
    KNN_K,
    KNN_TEMPERATURE,
    knn_accuracy,
    knn_scores,
    linear_probe,
    topk_accuracy,
)
from .features import FrozenViT, load_frozen_vit  # noqa: F401
