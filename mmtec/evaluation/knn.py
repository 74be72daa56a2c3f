"""Weighted k-nearest-neighbour classification of frozen features.

DINO's protocol (Caron et al., 2021): L2-normalised features, cosine
similarity to a bank of labelled training features, the ``k`` most similar
entries vote for their class with weight ``exp(similarity / T)``.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

# DINO's setting, the default of every kNN evaluation here
KNN_K = 20
KNN_TEMPERATURE = 0.07


@torch.no_grad()
def knn_scores(bank_feats: torch.Tensor, bank_labels: torch.Tensor,
               query_feats: torch.Tensor, k: int = KNN_K,
               temperature: float = KNN_TEMPERATURE,
               num_classes: Optional[int] = None,
               chunk_size: int = 1024) -> torch.Tensor:
    """Class votes ``[M, num_classes]`` (summed weights) of every query.

    Args:
        bank_feats (Tensor): ``[N, C]`` features of the labelled bank.
        bank_labels (Tensor): ``[N]`` integer labels.
        query_feats (Tensor): ``[M, C]`` features to classify.
        k (int): Neighbours that vote. Defaults to ``KNN_K`` (20).
        temperature (float): ``T`` of the vote weight ``exp(sim / T)``.
            Defaults to ``KNN_TEMPERATURE`` (0.07).
        num_classes (int, optional): Defaults to ``max(bank_labels) + 1``.
        chunk_size (int): Queries per similarity matrix (memory bound).
    """
    if bank_feats.shape[0] != bank_labels.shape[0]:
        raise ValueError('bank_feats and bank_labels differ in length')
    k = min(k, bank_feats.shape[0])
    num_classes = num_classes or int(bank_labels.max()) + 1
    bank = F.normalize(bank_feats.float(), dim=1)
    bank_labels = bank_labels.long().to(bank.device)
    scores = []
    for start in range(0, query_feats.shape[0], chunk_size):
        query = F.normalize(
            query_feats[start:start + chunk_size].float().to(bank.device),
            dim=1)
        sim, idx = (query @ bank.t()).topk(k, dim=1)  # cosine similarity
        votes = torch.zeros(query.shape[0], num_classes, device=bank.device)
        scores.append(votes.scatter_add_(1, bank_labels[idx],
                                         (sim / temperature).exp()))
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                  topk: Tuple[int, ...] = (1, 5)) -> Dict[str, float]:
    """Top-k accuracies in percent (``k`` above the class count skipped).

    Args:
        scores (Tensor): ``[M, num_classes]`` class scores.
        labels (Tensor): ``[M]`` true labels.
        topk (tuple[int]): The ``k`` values. Defaults to (1, 5).
    """
    labels = labels.to(scores.device).long()
    return {
        f'top{k}': 100. * (scores.topk(k, dim=1).indices == labels[:, None]
                           ).any(dim=1).float().mean().item()
        for k in topk if k <= scores.shape[1]
    }


def knn_accuracy(bank_feats: torch.Tensor, bank_labels: torch.Tensor,
                 query_feats: torch.Tensor, query_labels: torch.Tensor,
                 k: int = KNN_K, temperature: float = KNN_TEMPERATURE,
                 num_classes: Optional[int] = None) -> Dict[str, float]:
    """Top-1/top-5 accuracy (%) of the weighted kNN vote.

    Args:
        bank_feats, bank_labels, query_feats: See :func:`knn_scores`.
        query_labels (Tensor): ``[M]`` true labels of the queries.
        k, temperature, num_classes: See :func:`knn_scores`.
    """
    num_classes = num_classes or int(
        max(bank_labels.max(), query_labels.max())) + 1
    return topk_accuracy(knn_scores(bank_feats, bank_labels, query_feats, k,
                                    temperature, num_classes), query_labels)
