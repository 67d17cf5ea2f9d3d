"""TET loss (ds2ta/train_utils.tet_loss) against a hand-worked case, and the per-step logits it reads."""

import math

import pytest
import torch

from ds2ta.config import make_config
from ds2ta.model import DS2TA
from ds2ta.train_utils import TET_MEANS, TrainConfig, tet_loss


def test_tet_loss_hand_worked():
    # T = 2, one sample, two classes, label 0: step logits (0, 0) and (ln 3, 0)
    steps = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]])
    y = torch.tensor([0])
    ce0, ce1 = math.log(2.0), -math.log(3.0 / 4.0)  # -log softmax_0
    mse = ((0 - 1) ** 2 + (0 - 1) ** 2 + (math.log(3.0) - 1) ** 2 + (0 - 1) ** 2) / 4
    assert TET_MEANS == 1.0
    got = tet_loss(steps, y, label_smoothing=0.0, lamb=0.25)
    assert got.item() == pytest.approx(0.75 * (ce0 + ce1) / 2 + 0.25 * mse, rel=1e-6)
    assert tet_loss(steps, y, 0.0, 0.0).item() == pytest.approx((ce0 + ce1) / 2, rel=1e-6)


@pytest.mark.parametrize("backbone", ["spikformer", "sdt"])
def test_per_step_logits_average_to_the_logits(backbone):
    torch.manual_seed(0)
    m = DS2TA(make_config("tiny", backbone=backbone)).eval()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        steps, logits = m(x, steps=True), m(x)
    assert steps.shape == (m.cfg.T, 3, 10)
    assert torch.allclose(steps.mean(0), logits, atol=1e-6)


def test_unknown_loss_is_refused_by_name():
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="mse")
