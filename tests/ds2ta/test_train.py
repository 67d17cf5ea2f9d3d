"""Training loop: schedule, reproducibility, resume equivalence, interruption, learning."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.data import Dataset, Subset

from ds2ta.checkpoint import load_checkpoint
from ds2ta.data import get_dataset
from ds2ta.train_utils import TrainConfig, param_groups, warmup_cosine
from ds2ta.training import build_model, fit

SMALL = dict(embed_dim=16, heads=2, mlp_ratio=2, T=2)


@pytest.fixture()
def digits_small():
    train, test, info = get_dataset("digits")
    return Subset(train, range(64)), Subset(test, range(32)), info


def _tcfg(**kw):
    base = dict(epochs=2, batch_size=16, lr=3e-3, warmup_epochs=0.5, seed=3, device="cpu",
                progress=False)
    return TrainConfig(**{**base, **kw})


def test_warmup_cosine_hand_values():
    # 10 steps, 2 warmup: 0.5, 1.0, then cosine over 8 steps from 1 to 0.1
    vals = [warmup_cosine(s, 10, 2, 0.1) for s in range(11)]
    assert vals[0] == pytest.approx(0.5) and vals[1] == pytest.approx(1.0)
    assert vals[2] == pytest.approx(1.0)
    assert vals[6] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # 0.55
    assert vals[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(vals[2:], vals[3:]))


def test_trainconfig_rejects_bad_values():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)


def test_weight_decay_only_on_matrices_and_kernels():
    m = build_model("tiny", get_dataset("digits")[2], **SMALL)
    decay, no_decay = param_groups(m, 0.05)
    names = {id(p): n for n, p in m.named_parameters()}
    assert all(p.dim() >= 2 and "nsad" not in names[id(p)] for p in decay["params"])
    assert any("nsad" in names[id(p)] for p in no_decay["params"])
    assert any(names[id(p)].endswith("rho") for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))


def test_build_model_takes_io_from_dataset():
    info = dict(name="x", in_channels=2, img_size=16, num_classes=7, encoding="events", T=6,
                input_scale=1.0)
    m = build_model("tiny", info, embed_dim=16, heads=2, pool_stages="0011")
    assert (m.cfg.in_channels, m.cfg.img_size, m.cfg.num_classes, m.cfg.T) == (2, 16, 7, 6)
    with pytest.raises(ValueError, match="does not fit dataset"):
        build_model("cifar10", dict(info, img_size=6))


def test_activation_checkpointing_trains_to_the_same_weights(digits_small):
    train, test, info = digits_small
    states = []
    for on in (False, True):
        m = build_model("tiny", info, seed=5, **SMALL)
        fit(m, train, test, info, _tcfg(epochs=1, checkpoint_activations=on))
        assert m.checkpoint_activations is on
        states.append(m.state_dict())
    for k in states[0]:  # weights, BN running statistics and batch counts
        torch.testing.assert_close(states[0][k], states[1][k], rtol=0, atol=0, msg=k)


def test_activation_checkpointing_needs_a_ds2ta_model(digits_small):
    train, test, info = digits_small
    with pytest.raises(ValueError, match="checkpoint_activations=True needs a ds2ta.DS2TA model"):
        fit(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), train, test, info,
            _tcfg(epochs=1, checkpoint_activations=True))


def test_same_seed_same_weights(digits_small):
    train, test, info = digits_small
    states = []
    for _ in range(2):
        m = build_model("tiny", info, seed=5, **SMALL)
        fit(m, train, test, info, _tcfg(epochs=1, mixup=0.4))
        states.append(m.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
    m3 = build_model("tiny", info, seed=6, **SMALL)
    fit(m3, train, test, info, _tcfg(epochs=1, mixup=0.4))
    assert not torch.equal(m3.state_dict()["head.weight"], states[0]["head.weight"])


def test_resume_equals_uninterrupted_run(digits_small, tmp_path):
    train, test, info = digits_small
    full = build_model("tiny", info, seed=1, **SMALL)
    m_full = fit(full, train, test, info, _tcfg(), out_dir=tmp_path / "full")

    part = build_model("tiny", info, seed=1, **SMALL)
    m1 = fit(part, train, test, info, _tcfg(), out_dir=tmp_path / "part", stop_after=1)
    assert m1["epochs"] == 1 and m1["finished"] is False
    fresh = build_model("tiny", info, seed=99, **SMALL)  # weights come from the checkpoint
    m2 = fit(fresh, train, test, info, _tcfg(), out_dir=tmp_path / "part",
             resume=tmp_path / "part" / "model.pt")
    assert m2["epochs"] == 2 and m2["finished"] is True
    for k, v in full.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    assert m2["test_accuracy"] == m_full["test_accuracy"]
    # checkpoint and metrics.json agree with an independent evaluation of the loaded model
    model, ckpt = load_checkpoint(tmp_path / "part" / "model.pt")
    saved = json.loads((tmp_path / "part" / "metrics.json").read_text())
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.tensor([int(test[i][1]) for i in range(len(test))])
    acc = float((model(x).argmax(1) == y).float().mean())
    assert saved["test_accuracy"] == pytest.approx(acc) == pytest.approx(ckpt["metrics"]["test_accuracy"])
    assert saved["epochs"] == 2 and saved["seconds"] > 0
    assert ckpt["dataset"]["name"] == "digits"


def test_resume_with_other_config_is_rejected(digits_small, tmp_path):
    train, test, info = digits_small
    m = build_model("tiny", info, **SMALL)
    fit(m, train, test, info, _tcfg(epochs=1), out_dir=tmp_path)
    other = build_model("tiny", info, **{**SMALL, "attention": "spikformer"})
    with pytest.raises(ValueError, match=r"differs from this run's in \['attention'\]"):
        fit(other, train, test, info, _tcfg(epochs=2), resume=tmp_path / "model.pt")


def test_resume_of_a_checkpoint_from_before_a_config_field(digits_small, tmp_path):
    """A run saved before a config field existed (``sdsa_pool``) resumes as the CLI rebuilds it."""
    from ds2ta.config import DS2TAConfig
    from ds2ta.model import DS2TA

    train, test, info = digits_small
    m = build_model("tiny", info, seed=1, **SMALL)
    fit(m, train, test, info, _tcfg(), out_dir=tmp_path, stop_after=1)
    ckpt = torch.load(tmp_path / "model.pt", weights_only=False)
    del ckpt["config"]["sdsa_pool"]
    torch.save(ckpt, tmp_path / "model.pt")
    resumed = DS2TA(DS2TAConfig.from_dict(ckpt["config"]))  # as ds2ta-train --resume builds it
    assert resumed.cfg.sdsa_pool == "grid"
    assert fit(resumed, train, test, info, _tcfg(), out_dir=tmp_path, resume=tmp_path / "model.pt")["epochs"] == 2


class _InterruptAt(Dataset):
    """Raises KeyboardInterrupt when sample ``at`` is read ``after`` times (simulated Ctrl-C)."""

    def __init__(self, base, at: int, after: int):
        self.base, self.at, self.after, self.reads = base, at, after, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        if i == self.at:
            self.reads += 1
            if self.reads > self.after:
                raise KeyboardInterrupt
        return self.base[i]


def test_ctrl_c_keeps_last_good_checkpoint(digits_small, tmp_path):
    train, test, info = digits_small
    m = build_model("tiny", info, **SMALL)
    with pytest.raises(KeyboardInterrupt):
        fit(m, _InterruptAt(train, at=7, after=1), test, info, _tcfg(epochs=3), out_dir=tmp_path)
    model, ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["metrics"]["epochs"] == 1 and ckpt["train_state"]["epoch"] == 1
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.pt"]


def test_training_learns_digits(digits_small):
    """Four epochs on 512 digits lift test accuracy far above chance (10 %)."""
    train_full, test_full, info = get_dataset("digits")
    train, test = Subset(train_full, range(512)), Subset(test_full, range(100))
    m = build_model("tiny", info, seed=0, T=2)
    metrics = fit(m, train, test, info, _tcfg(epochs=4, batch_size=32, lr=3e-3))
    assert metrics["test_accuracy"] >= 0.4  # seeded run reaches 0.62; chance is 0.1
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_training_on_cuda(digits_small, tmp_path):
    train, test, info = digits_small
    m = build_model("tiny", info, **SMALL)
    metrics = fit(m, train, test, info, _tcfg(epochs=1, device="cuda", amp=True), out_dir=tmp_path)
    assert math.isfinite(metrics["train_loss"]) and metrics["device"].startswith("cuda")
    model, _ = load_checkpoint(tmp_path / "model.pt")  # loads on CPU
    assert next(model.parameters()).device.type == "cpu"


def test_eval_every_reports_only_measured_accuracies(digits_small):
    train, test, info = digits_small
    m = build_model("tiny", info, **SMALL)
    metrics = fit(m, train, test, info, _tcfg(epochs=3, eval_every=2))
    accs = [h["test_accuracy"] for h in metrics["history"]]
    assert accs[0] is None and accs[1] is not None and accs[2] is not None  # epochs 2 and 3 (last)
    assert metrics["test_accuracy"] == accs[2] and metrics["test_accuracy_epoch"] == 3
