"""Linear probe on frozen features: multinomial logistic regression.

Features standardised with the training statistics (as MAE's
parameter-free BatchNorm), an L2-regularised softmax classifier fitted
full-batch with L-BFGS (deterministic); the L2 strength is picked on
held-out training features, never on the test set.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F

from .knn import topk_accuracy


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
