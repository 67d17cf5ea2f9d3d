"""Checkpoint round trip, atomic writes and the errors for wrong files."""

from __future__ import annotations

import os

import pytest
import torch

from ds2ta import DS2TA, make_config
from ds2ta.checkpoint import (FORMAT, atomic_write_bytes, atomic_write_json, load_checkpoint,
                              read_checkpoint, save_checkpoint)

INFO = {"name": "digits", "input_scale": 1 / 16, "encoding": "direct"}


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = DS2TA(make_config("tiny", embed_dim=16, heads=2, mlp_ratio=2))
    with torch.no_grad():  # make the weights differ from a fresh init
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return m


def test_round_trip_restores_weights_config_and_outputs(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO, {"test_accuracy": 0.5, "epochs": 1})
    m2, ckpt = load_checkpoint(path)
    assert ckpt["format"] == FORMAT and ckpt["format_version"] == 1
    assert ckpt["dataset"]["input_scale"] == pytest.approx(0.0625)
    assert ckpt["metrics"] == {"test_accuracy": 0.5, "epochs": 1}
    assert m2.cfg == model.cfg
    assert not m2.training
    for k, v in model.state_dict().items():
        assert torch.equal(m2.state_dict()[k], v), k
    x = torch.rand(3, 1, 8, 8)
    model.eval()
    assert torch.equal(model(x), m2(x))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_plain_state_dict_is_rejected(model, tmp_path):
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(ValueError, match="not a ds2ta checkpoint.*plain state dict"):
        load_checkpoint(tmp_path / "sd.pt")


def test_other_models_file_is_rejected(tmp_path):
    torch.save({"model": torch.nn.Linear(2, 2).state_dict(), "epoch": 3}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a ds2ta checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_non_torch_file_is_rejected(tmp_path):
    (tmp_path / "junk.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a readable ds2ta checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


class _Pickled:
    """Unpickling it would create ``marker`` (code run by the loader)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_file_with_python_objects_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "code-ran"
    torch.save({"format": "ds2ta-checkpoint", "obj": _Pickled(marker)}, tmp_path / "obj.pt")
    with pytest.raises(ValueError, match="not a readable ds2ta checkpoint") as e:
        load_checkpoint(tmp_path / "obj.pt")
    assert not marker.exists()  # nothing in the file ran
    msg = str(e.value)
    assert "Python objects" in msg and "open" in msg  # names what the file holds
    assert "weights_only" not in msg and "will likely succeed" not in msg  # not torch's unsafe advice


def test_config_weight_shape_mismatch_names_the_key(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO)
    ckpt = torch.load(path, weights_only=False)
    ckpt["config"]["embed_dim"] = 32  # weights were built with 16
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"config does not match weights: 'sps.stages.0.conv.weight' "
                                         r"has shape \(2, 1, 3, 3\).*\(4, 1, 3, 3\)"):
        load_checkpoint(path)


def test_config_weight_missing_key_is_named(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO)
    ckpt = torch.load(path, weights_only=False)
    ckpt["config"]["depth"] = 2  # weights have one block only
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"'blocks.1.attn.q.rho'.*missing"):
        load_checkpoint(path)


def test_unexpected_weight_is_named(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO)
    ckpt = torch.load(path, weights_only=False)
    ckpt["config"]["nsad"] = False  # the NSAD table is then unexpected
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"'blocks.0.attn.nsad.table'.*no place"):
        load_checkpoint(path)


def test_unknown_config_field_is_rejected(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO)
    ckpt = torch.load(path, weights_only=False)
    ckpt["config"]["wingspan"] = 3
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="invalid config.*wingspan"):
        load_checkpoint(path)


def test_checkpoint_from_before_sdsa_pool_keeps_the_grid_pooling(tmp_path):
    """A checkpoint written before ``sdsa_pool`` existed was trained with SDSA's DVS pools on the token
    grid: loading it builds ``sdsa_pool="grid"`` (the model it was trained as), a new one keeps its own."""
    torch.manual_seed(0)
    cfg = make_config("tiny-dvs", embed_dim=16, heads=2, mlp_ratio=1, backbone="sdt", attention="sdsa")
    assert cfg.dvs_pool and cfg.sdsa_pool == "official"
    m = DS2TA(cfg).eval()
    info = {**INFO, "name": "digits-events", "encoding": "events", "input_scale": 1.0}
    path = save_checkpoint(tmp_path / "new.pt", m, info)
    assert load_checkpoint(path)[0].cfg.sdsa_pool == "official"
    ckpt = torch.load(path, weights_only=False)
    del ckpt["config"]["sdsa_pool"]  # as an older version wrote it
    torch.save(ckpt, tmp_path / "old.pt")
    old, _ = load_checkpoint(tmp_path / "old.pt")
    assert old.cfg.sdsa_pool == "grid" and old.blocks[0].attn.sdsa_pool == "grid"
    grid = DS2TA(make_config("tiny-dvs", embed_dim=16, heads=2, mlp_ratio=1, backbone="sdt", attention="sdsa",
                             sdsa_pool="grid")).eval()
    grid.load_state_dict(m.state_dict())
    x = (torch.rand(2, 10, 2, 16, 16) < 0.3).float() * 2
    assert torch.equal(old(x), grid(x))


def test_wrong_format_version(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model, INFO)
    ckpt = torch.load(path, weights_only=False)
    ckpt["format_version"] = 99
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="format_version 99"):
        read_checkpoint(path)


def test_save_rejects_bad_arguments(model, tmp_path):
    with pytest.raises(TypeError, match="DS2TA"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2), INFO)
    with pytest.raises(ValueError, match="input_scale"):
        save_checkpoint(tmp_path / "x.pt", model, {"name": "digits"})


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, boom)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]  # no temp file left behind


def test_atomic_json(tmp_path):
    import json
    p = atomic_write_json(tmp_path / "sub" / "m.json", {"b": 1, "a": [0.5]})
    assert json.loads(p.read_text()) == {"a": [0.5], "b": 1}


def test_numpy_values_in_metrics_are_stored_as_plain_numbers(model, tmp_path):
    import numpy as np
    path = save_checkpoint(tmp_path / "m.pt", model, {**INFO, "shape": np.array([1, 8, 8])},
                           {"test_accuracy": np.float64(0.75), "n": np.int64(3)})
    _, ckpt = load_checkpoint(path)
    assert ckpt["metrics"] == {"test_accuracy": 0.75, "n": 3}
    assert type(ckpt["metrics"]["n"]) is int and ckpt["dataset"]["shape"] == [1, 8, 8]
    with pytest.raises(TypeError, match="cannot store object"):
        save_checkpoint(tmp_path / "m.pt", model, INFO, {"x": object()})
