"""Classifiers of frozen features: weighted kNN and linear probe.

kNN: DINO's protocol (Caron et al., 2021): L2-normalised features, cosine
similarity to a bank of labelled training features, the ``k`` most similar
entries vote for their class with weight ``exp(similarity / T)``.

Linear probe: features standardised with the training statistics (as MAE's
parameter-free BatchNorm), an L2-regularised softmax classifier fitted
full-batch with L-BFGS (deterministic); the L2 strength is picked on
held-out training features, never on the test set.
"""
from typing import Dict, Optional, Sequence, Tuple

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


def _fit(feats: torch.Tensor, labels: torch.Tensor, num_classes: int,
         weight_decay: float, max_iter: int) -> torch.nn.Linear:
    torch.manual_seed(0)
    clf = torch.nn.Linear(feats.shape[1], num_classes).to(feats.device)
    torch.nn.init.zeros_(clf.weight)
    torch.nn.init.zeros_(clf.bias)
    opt = torch.optim.LBFGS(clf.parameters(), lr=1, max_iter=max_iter,
                            history_size=20, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(clf(feats), labels) + \
            0.5 * weight_decay * clf.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return clf


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor,
                 weight_decays: Sequence[float] = (1e-5, 1e-4, 1e-3, 1e-2),
                 max_iter: int = 300,
                 val_fraction: float = 0.1) -> Dict[str, float]:
    """Fit a linear classifier on frozen features and test it.

    Args:
        train_feats (Tensor): ``[N, C]`` training features.
        train_labels (Tensor): ``[N]`` training labels.
        test_feats (Tensor): ``[M, C]`` test features.
        test_labels (Tensor): ``[M]`` test labels.
        weight_decays (Sequence[float]): L2 strengths tried on the held-out
            part of the training features.
        max_iter (int): L-BFGS iterations per fit. Defaults to 300.
        val_fraction (float): Held-out fraction used to pick the L2
            strength. Defaults to 0.1.

    Returns:
        dict: ``top1``/``top5`` test accuracy (%), the chosen
        ``weight_decay`` and its held-out ``val_top1``.
    """
    mean = train_feats.float().mean(0, keepdim=True)
    std = train_feats.float().std(0, keepdim=True) + 1e-6
    train_feats = (train_feats.float() - mean) / std
    test_feats = (test_feats.float() - mean) / std
    train_labels, test_labels = train_labels.long(), test_labels.long()
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    # a fixed random split, so repeated evaluations pick the same strength
    perm = torch.randperm(
        len(train_labels),
        generator=torch.Generator().manual_seed(0)).to(train_feats.device)
    num_val = max(1, int(len(perm) * val_fraction))
    val_idx, fit_idx = perm[:num_val], perm[num_val:]
    best = None
    for wd in weight_decays:
        clf = _fit(train_feats[fit_idx], train_labels[fit_idx], num_classes,
                   wd, max_iter)
        with torch.no_grad():
            acc = topk_accuracy(clf(train_feats[val_idx]),
                                train_labels[val_idx], (1, ))['top1']
        if best is None or acc > best[1]:
            best = (wd, acc)
    clf = _fit(train_feats, train_labels, num_classes, best[0], max_iter)
    with torch.no_grad():
        result = topk_accuracy(clf(test_feats), test_labels)
    return dict(result, weight_decay=best[0], val_top1=best[1])
