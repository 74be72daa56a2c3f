"""TEC's two losses against hand-computed values."""
import math

import pytest
import torch

from mmtec.models import AttentionMapLoss, PatchNormFeatureLoss


def test_feature_loss_patch_dim_normalisation_by_hand():
    # one image, 3 patches, 1 channel: target 1, 2, 3 -> mean 2, unbiased
    # variance 1 -> normalised (-1, 0, 1) / sqrt(1 + 1e-6)
    target = torch.tensor([[[1.], [2.], [3.]]])
    pred = torch.zeros(1, 3, 1)
    mask = torch.tensor([[1., 0., 1.]])  # patches 0 and 2 were masked
    loss = PatchNormFeatureLoss()(pred, target, mask)
    assert loss.item() == pytest.approx(1 / (1 + 1e-6), rel=1e-7)


def test_feature_loss_averages_channels_then_masked_patches_only():
    target = torch.tensor([[[0., 10.], [2., 10.], [4., 16.]]])
    # per channel: c0 mean 2 var 4 -> (-1, 0, 1)/sqrt(4+eps);
    #              c1 mean 12 var 12 -> (-2, -2, 4)/sqrt(12+eps)
    pred = torch.tensor([[[1., 0.], [5., 5.], [0., 0.]]])
    mask = torch.tensor([[1., 1., 0.]])
    n0 = torch.tensor([-1., 0., 1.]) * 2 / math.sqrt(4 + 1e-6)
    n1 = torch.tensor([-2., -2., 4.]) / math.sqrt(12 + 1e-6)
    per_patch = ((pred[0, :, 0] - n0)**2 + (pred[0, :, 1] - n1)**2) / 2
    expected = (per_patch[0] + per_patch[1]) / 2
    loss = PatchNormFeatureLoss()(pred, target, mask)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # an unmasked patch's error does not count
    pred2 = pred.clone()
    pred2[0, 2] = 100.
    assert PatchNormFeatureLoss()(pred2, target, mask).item() == \
        pytest.approx(loss.item(), rel=1e-6)


def test_feature_loss_per_patch_ablation_normalises_channels():
    target = torch.tensor([[[1., 3.], [5., 5.5]]])
    mask = torch.ones(1, 2)
    loss = PatchNormFeatureLoss(norm_dim='channel')(torch.zeros(1, 2, 2),
                                                   target, mask)
    # each patch (a, b) -> (-d, d)/sqrt(2 d^2 + eps) with d = (b - a) / 2
    p0 = 1 / (2 * 1 + 1e-6)
    p1 = 0.0625 / (2 * 0.0625 + 1e-6)
    assert loss.item() == pytest.approx((p0 + p1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match='norm_dim'):
        PatchNormFeatureLoss(norm_dim='pixel')


def test_attention_loss_uniform_target_by_hand():
    target = torch.zeros(1, 1, 1, 2)  # softmax -> (1/2, 1/2)
    pred = torch.tensor([[[[0., math.log(3.)]]]])  # -> (1/4, 3/4)
    loss = AttentionMapLoss(tau=1.8)(pred, target)
    expected = -0.5 * (math.log(0.25) + math.log(0.75))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_attention_loss_temperature_and_mean_over_rows_heads():
    # row 1: target logits (0, 2 ln 3) / tau=2 -> p = (1/4, 3/4); pred
    # uniform -> loss ln 2. row 2: identical target and pred one-hot-ish.
    target = torch.tensor([[[[0., 2 * math.log(3.)]], [[0., 0.]]]])
    pred = torch.tensor([[[[0., 0.]], [[0., math.log(3.)]]]])
    loss = AttentionMapLoss(tau=2.0, loss_weight=2.0)(pred, target)
    row2 = -0.5 * (math.log(0.25) + math.log(0.75))
    assert loss.item() == pytest.approx(2.0 * (math.log(2.) + row2) / 2,
                                        rel=1e-6)
    with pytest.raises(ValueError, match='differ'):
        AttentionMapLoss()(pred, target[..., :1])


def test_attention_loss_two_heads_tau_and_non_uniform_prediction():
    # [B=1, rows=1, H=2, L=2]; tau=2 halves the target logits.
    # head 0: target (0, 2 ln 3) -> p (1/4, 3/4); pred (0, ln 3) -> (1/4, 3/4)
    # head 1: target (2 ln 2, 0) -> p (2/3, 1/3); pred (ln 4, 0) -> (4/5, 1/5)
    target = torch.tensor([[[[0., 2 * math.log(3.)],
                             [2 * math.log(2.), 0.]]]])
    pred = torch.tensor([[[[0., math.log(3.)], [math.log(4.), 0.]]]])
    head0 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    head1 = -(2 / 3 * math.log(0.8) + 1 / 3 * math.log(0.2))
    loss = AttentionMapLoss(tau=2.0)(pred, target)
    # averaged (not summed) over heads
    assert loss.item() == pytest.approx((head0 + head1) / 2, rel=1e-6)
