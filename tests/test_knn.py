"""The weighted kNN vote and the linear probe, against hand-computed cases."""
import math

import pytest
import torch

from mmtec.evaluation import (
    knn_accuracy,
    knn_scores,
    linear_probe,
    topk_accuracy,
)

# bank: b0=(1,0) class 0, b1=(0,1) class 1, b2=(1,1) class 1 (not unit norm:
# cosine similarity must normalise it)
BANK = torch.tensor([[1., 0.], [0., 1.], [3., 3.]])
LABELS = torch.tensor([0, 1, 1])


def test_weighted_vote_by_hand():
    query = torch.tensor([[2., 0.]])  # cos to b0 = 1, b1 = 0, b2 = 1/sqrt2
    scores = knn_scores(BANK, LABELS, query, k=3, temperature=0.5)
    w0, w1, w2 = math.exp(1 / 0.5), math.exp(0 / 0.5), math.exp(
        (1 / math.sqrt(2)) / 0.5)
    torch.testing.assert_close(scores,
                               torch.tensor([[w0, w1 + w2]]))
    # 7.39 for class 0 beats 1 + 4.11 for class 1 although class 1 has
    # more neighbours: the vote is weighted
    assert scores.argmax(1).item() == 0


def test_temperature_and_k():
    query = torch.tensor([[1., 0.]])
    # a large temperature makes the weights nearly equal: majority wins
    assert knn_scores(BANK, LABELS, query, k=3,
                      temperature=100.).argmax(1).item() == 1
    # k=2 keeps b0 and b2 only
    scores = knn_scores(BANK, LABELS, query, k=2, temperature=0.5)
    torch.testing.assert_close(
        scores, torch.tensor([[math.exp(2.), math.exp(math.sqrt(2))]]))
    # k larger than the bank is clipped
    assert knn_scores(BANK, LABELS, query, k=20).shape == (1, 2)


def test_chunks_and_accuracy():
    torch.manual_seed(0)
    bank = torch.randn(50, 8)
    labels = torch.randint(0, 4, (50, ))
    queries = torch.randn(30, 8)
    full = knn_scores(bank, labels, queries, k=5, num_classes=4)
    chunked = knn_scores(bank, labels, queries, k=5, num_classes=4,
                         chunk_size=7)
    torch.testing.assert_close(full, chunked)
    # every bank item finds itself first: accuracy 100 with k=1
    acc = knn_accuracy(bank, labels, bank, labels, k=1)
    assert acc['top1'] == pytest.approx(100.)


def test_topk_accuracy_by_hand():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    acc = topk_accuracy(scores, torch.tensor([2, 0]), topk=(1, 2, 5))
    assert acc == {'top1': 50., 'top2': 100.}  # top5 > 3 classes: skipped


def test_linear_probe_separable():
    torch.manual_seed(0)
    centers = torch.randn(3, 16) * 5
    y = torch.arange(300) % 3
    x = centers[y] + torch.randn(300, 16) * 0.1
    yt = torch.arange(60) % 3
    xt = centers[yt] + torch.randn(60, 16) * 0.1
    res = linear_probe(x, y, xt, yt, max_iter=50)
    assert res['top1'] == 100.
    assert res['weight_decay'] in (1e-5, 1e-4, 1e-3, 1e-2)


@pytest.mark.fashion_mnist
def test_knn_eval_tool_on_any_layout(tmp_path):
    """The tool on a timm-layout (MAE-style) and an MMPretrain checkpoint."""
    import importlib.util
    import json
    import os.path as osp

    from paths import ROOT as root
    from vit_checkpoints import layouts, random_vit
    spec = importlib.util.spec_from_file_location(
        'mmtec_knn_eval_tool',
        osp.join(root, 'tools', 'analysis_tools', 'knn_eval.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    vit = random_vit()
    timm_ckpt, mm_ckpt = tmp_path / 'mae.pth', tmp_path / 'mm.pth'
    torch.save(layouts(vit)['mae'][0], timm_ckpt)
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}},
               mm_ckpt)
    data = str(tmp_path / 'data')
    out = tmp_path / 'knn.json'
    res = tool.main([
        str(timm_ckpt), str(mm_ckpt), 'pixels', '--num-heads', '4',
        '--linear', '--out', str(out), '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        'train_dataloader.dataset.num_per_class=3',
        'test_dataloader.dataset.num_per_class=2'
    ])
    saved = json.load(open(out))
    a, b = res[str(timm_ckpt)], res[str(mm_ckpt)]
    assert a['bank_size'] == 30 and a['test_size'] == 20
    assert a['checkpoint_info']['layout'] == 'timm'
    assert b['checkpoint_info']['layout'] == 'mmpretrain'
    # same weights in two layouts: same features, same accuracy
    assert a['knn_top1'] == b['knn_top1'] and \
        a['linear_top1'] == b['linear_top1']
    assert saved['pixels']['feature_dims'] == 3 * 28 * 28
    assert 0 <= saved['pixels']['knn_top1'] <= 100
