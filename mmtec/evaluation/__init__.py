"""Evaluation of frozen features: weighted kNN and linear probe."""
from .benchmark import (
                        build_eval_datasets,
                        evaluate_checkpoint,
                        evaluate_features,
)
from .features import (
                        FEATURE_TYPES,
                        FrozenViT,
                        Normalize,
                        extract_features,
                        load_frozen_vit,
)
from .knn import (
                        KNN_K,
                        KNN_TEMPERATURE,
                        knn_accuracy,
                        knn_scores,
                        topk_accuracy,
)
from .linear_probe import linear_probe

__all__ = [
    'KNN_K', 'KNN_TEMPERATURE',
    'knn_scores', 'knn_accuracy', 'topk_accuracy', 'linear_probe',
    'FrozenViT', 'load_frozen_vit', 'extract_features', 'Normalize',
    'FEATURE_TYPES', 'build_eval_datasets', 'evaluate_features',
    'evaluate_checkpoint'
]
