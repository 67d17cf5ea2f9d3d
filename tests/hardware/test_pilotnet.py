"""PilotNet-LIF: the numpy Lava-semantics simulation against lava-dl's own spike data and README shapes."""

import numpy as np
import pytest

from ds2ta.hardware import pilotnet as P

pytestmark = pytest.mark.skipif(not P.available(), reason=f"PilotNet-LIF data not found: set {P.ENV_VAR} to the "
                                "folder with lava-dl's network.net and image.npy (default: data/pilotnet_lif)")


@pytest.fixture()
def net():
    return P.load_network()


def test_input_layer_reproduces_lava_dl_input_npy(net):
    # input.npy is the spike output lava-dl's test feeds the network: the input LIF driven by image.npy.
    image = np.load(P.data_dir() / "image.npy")
    ref = np.load(P.data_dir() / "input.npy")                      # (W, H, C, T)
    sim = P.simulate(net[:1], image, 16)
    np.testing.assert_array_equal(sim["spikes"]["input0"].transpose(1, 2, 3, 0), ref[..., :16])


def test_shapes_match_intel_table(net):
    # README: Conv0 -> 99x32x24, Conv1 -> 49x15x36, Conv2 -> 24x7x48, Conv3 -> 22x4x64, Conv4 -> 20x2x64
    specs = {s.name: s for s in P.layer_specs(net)}
    assert specs["conv1"].out_shape == (99, 32, 24) and specs["conv4"].out_shape == (22, 4, 64)
    assert specs["conv5"].out_shape == (20, 2, 64) and specs["dense7"].fan_in == 2560
    assert specs["conv4"].stride == (1, 2) and specs["conv4"].padding == (0, 1)


def test_counts_are_consistent(net):
    image = np.load(P.data_dir() / "image.npy")
    sim = P.simulate(net, image, 16)
    c, s = sim["layers"], sim["spikes"]
    assert c["dense7"]["synops"] == s["conv5"].sum() * 100          # each conv5 spike hits 100 neurons
    assert c["dense8"]["synops"] == s["dense7"].sum() * 50
    # conv1 (3x3, stride 2, no padding): an input spike at interior column x feeds output columns
    # whose window covers it; total = sum over outputs of active inputs in the window x 24 channels.
    inp = s["input0"].astype(int)                                    # (T, W, H, C)
    win = sum(inp[:, i:i + 197:2, j:j + 63:2].sum(-1) for i in range(3) for j in range(3))
    assert c["conv1"]["synops"] == win.sum() * 24
    assert c["dense10"]["spikes"] == 0                               # read-out threshold 131071 never fires


def test_calibration_table_has_ratios():
    cal = P.calibration()
    q = {r["quantity"]: r for r in cal["rows"]}
    assert q["neuro cores"]["measured"] == 74
    assert q["neuro cores"]["ratio"] == pytest.approx(q["neuro cores"]["predicted"] / 74)
    assert len(cal["per_layer"]) == 10


def test_missing_data_names_what_to_pass(tmp_path, monkeypatch):
    real = P.data_dir()
    monkeypatch.delenv(P.ENV_VAR, raising=False)
    monkeypatch.setattr(P, "DATA", str(tmp_path))  # the default folder is empty
    assert not P.available()
    with pytest.raises(ValueError, match="data_dir=.*DS2TA_PILOTNET_DIR"):
        P.load_network()
    monkeypatch.setenv(P.ENV_VAR, str(real))         # the variable wins over the default
    assert P.available() and P.data_dir() == real
    assert P.available(real) and not P.available(tmp_path)  # the argument wins over both

