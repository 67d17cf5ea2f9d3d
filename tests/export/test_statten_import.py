"""Official STAtten checkpoints through ``ds2ta-export --from statten``, against the official code itself.

The oracle is the official model (``statten_official.py``: its files next to the repository, skipped
naming the folder when absent), with random weights and BatchNorm statistics that are not the identity,
saved the way its ``train.py`` saves. Each test imports it through the command line and compares float32
logits of the written ``OUT/model.pt`` with the official model's on inputs that exercise the zero-padded
border (normalised static images) and, on event data, the official DVS pooling.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from statten_official import CODE, official_logits, official_model, save_as_train_py

from ds2ta.checkpoint import load_checkpoint
from ds2ta.cli.export import main as export_main

CIFAR = "conf/cifar10/2_256_200E_t4.yml"
DVS = "conf/cifar10-dvs/2_256_200E_t10_TET.yml"
FAST = ["--max-eval", "4", "--calib-batches", "1", "--no-progress"]
# 64 event samples cost ~100 s per model on 2 cores; the full 64 were run once (docs/bring-your-own.md)
DVS_SAMPLES = int(os.environ.get("DS2TA_OFFICIAL_DVS_SAMPLES", "16"))


def data_dir(tmp, shape, n=8, events=False, seed=0):
    """A --calib-data folder: ``x_int.npy`` (pixels 0..255, or event counts 0..3) and ``labels.npy``."""
    rng = np.random.default_rng(seed)
    d = tmp / "data"
    d.mkdir()
    x = (rng.random((n, *shape)) < 0.1) * rng.integers(1, 4, (n, *shape)) if events else \
        rng.integers(0, 256, (n, *shape))
    np.save(d / "x_int.npy", x.astype(np.int32))
    np.save(d / "labels.npy", rng.integers(0, 10, n))
    return d


def imported(tmp_path, yml, mode="STAtten", ddp=True, events=False):
    """The official model and its import through the CLI: ``(official, args, ds2ta model, checkpoint)``."""
    off, args = official_model(CODE / yml, attention_mode=mode)
    ck = save_as_train_py(off, args, tmp_path / "model_best.pth.tar", ddp=ddp)
    shape = (args["time_steps"], 2, 64, 64) if events else (3, 32, 32)
    out = tmp_path / "out"
    rc = export_main([str(ck), "--from", "statten", "--config", str(CODE / yml), "--attention-mode", mode,
                      "--calib-data", str(data_dir(tmp_path, shape, events=events)), "--out", str(out), *FAST])
    assert rc == 0
    model, ckpt = load_checkpoint(out / "model.pt")
    return off, args, model.eval(), ckpt


def lif_records(official, model, x_official, x_ds2ta):
    """Logits and every LIF's spikes of both models, in the official module order: ``(logits_official,
    logits_ds2ta, [(official name, ds2ta name, spikes official, spikes ds2ta)])``; spikes as
    (T, B, channels, tokens) so the layouts compare."""
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode

    from ds2ta.neuron import LIF
    orec, drec, hs = {}, {}, []

    def keep(rec, name, o):  # a forward hook that returns a value would replace the module's output
        rec[name] = o.transpose(2, 3) if (rec is drec and o.dim() == 4) else o.flatten(3) if o.dim() > 3 else o

    for n, m in official.named_modules():
        if isinstance(m, MultiStepLIFNode):
            hs.append(m.register_forward_hook(lambda mod, i, o, n=n: keep(orec, n, o)))
    for n, m in model.named_modules():
        if isinstance(m, LIF):  # tokens (T, B, N, D) -> (T, B, D, N); SPS maps (T, B, C, H, W) flattened
            hs.append(m.register_forward_hook(lambda mod, i, o, n=n: keep(drec, n, o)))
    want = official_logits(official, x_official)
    with torch.no_grad():
        got = model(x_ds2ta)
    for h in hs:
        h.remove()
    assert len(orec) == len(drec)
    return want, got, [(a, b, orec[a].reshape(drec[b].shape), drec[b]) for a, b in zip(orec, drec)]


def check_equal(official, model, x_official, x_ds2ta):
    """Every LIF spike equal, logits within 1e-9 (float64) and 1e-5 (float32), predictions equal.

    float32 holds spike for spike because the SDT backbone sums as the official code does: 1 x 1 convs on
    contiguous channel-major maps and the token mean over them (``ds2ta.sdt.conv1x1_bn``); summed as a
    ``Linear`` 325 of 16.8 M spikes of the cifar10 model flipped (membranes on a threshold)."""
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-5)):
        want, got, layers = lif_records(official.to(dtype), model.to(dtype), x_official.to(dtype),
                                        x_ds2ta.to(dtype))
        flips = [(a, int((so != sd).sum())) for a, _, so, sd in layers if not torch.equal(so, sd)]
        assert not flips, (dtype, flips)
        assert float((got - want).abs().max()) <= tol, dtype
        assert torch.equal(got.argmax(1), want.argmax(1))
    assert float(want.std()) > 0.5  # logits that differ between classes and samples
    return layers


def test_cifar10_checkpoint_imports_with_logits_equal_to_the_official_model(tmp_path):
    off, args, model, ckpt = imported(tmp_path, CIFAR)
    rec = ckpt["recipe"]
    assert rec["source"] == str((tmp_path / "model_best.pth.tar").resolve()) and rec["config"].endswith(CIFAR)
    assert rec["keys_imported"] == 110 and rec["keys_unused"] == [f"block.{i}.attn.talking_heads.weight"
                                                                  for i in (0, 1)]
    assert rec["official"]["epoch"] == 199
    cfg = model.cfg
    assert (cfg.embed_dim, cfg.depth, cfg.heads, cfg.T, cfg.chunk, cfg.pool_stages, cfg.attention) == \
        (256, 2, 8, 4, 2, "0011", "statten")
    assert cfg.input_mean == tuple(args["mean"]) and cfg.input_std == tuple(args["std"])
    x = torch.randint(0, 256, (64, 3, 32, 32), generator=torch.Generator().manual_seed(0)).double()
    mean, std = (torch.tensor(args[k], dtype=torch.float64).view(1, 3, 1, 1) for k in ("mean", "std"))
    # the official pipeline normalises the pixels; ds2ta's input is pixels / 255, normalised by the model
    layers = check_equal(off, model, (x / 255 - mean) / std, x / 255)
    first = layers[0][3].reshape(4, 64, 32, 32, 32)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert float(first[..., border].mean()) > 0.05  # the zero-padded border fires: it is exercised


def test_exported_import_matches_in_lava_on_every_layer(tmp_path):
    """The imported checkpoint's export with default flags (chips chosen), then ``ds2ta-sim --compare``."""
    from ds2ta.cli.sim import main as sim_main
    off, args, model, ckpt = imported(tmp_path, CIFAR)
    out = tmp_path / "out"
    q = json.loads((out / "quantization.json").read_text())
    pool_units = {k: v for k, v in q["max_abs_input"].items() if k.startswith("sps.pools.3")}
    assert pool_units and max(pool_units.values()) <= 32767  # the membrane max-pool's network: sized, never wraps
    # every LIF's int16 a_in fits on the data: where the integer model's input passed the float calibration
    # (rpe_lif: quantization error upstream), the export quantized again with that neuron's current raised
    assert max(q["max_abs_input"].values()) <= 32767 and not [w for w in q["warnings"] if "int16" in w]
    assert set(q["int16_refit"]) <= set(q["max_abs_input"]) and all(f > 1 for f in q["int16_refit"].values())
    assert q["chips"]["used"] == 4 and q["chips"]["requested"] == "auto"
    mapping = json.loads((out / "mapping.json").read_text())
    assert mapping["chips"] == 4  # statten-cifar10 does not fit one chip: --chips auto chose 4 (427 cores)
    rc = sim_main([str(out / "model.nir"), "--dataset", str(tmp_path / "data"), "--compare", "--samples", "1",
                   "--out", str(tmp_path / "sim"), "--no-progress"])
    assert rc == 0
    sim = json.loads((tmp_path / "sim" / "simulation.json").read_text())
    assert sim["match"] is True and sim["checks"]["records_equal"] is True, sim["checks"]
    assert sim["checks"]["count_mismatches"] == [] and sim["checks"]["latency_equal"] is True
    layers = sim["backends"]["lava"]["layers"]  # every layer's counts equal the reference's (checked above)
    populations = [n for n, c in layers.items() if c["neurons"]]
    firing = [n for n in populations if layers[n]["spikes"] > 0]
    assert len(populations) > 40 and len(firing) >= 0.75 * len(populations), (len(populations), len(firing))


@pytest.mark.parametrize("mode", ["STAtten", "SDT"])
def test_dvs_checkpoint_imports_with_logits_equal_to_the_official_model(tmp_path, mode):
    """cifar10-dvs T 10: 64 x 64 frames, "0011", scale 1/1280, the official DVS pools (for SDT, SDSA's
    pools over flattened tokens x head channels)."""
    off, args, model, ckpt = imported(tmp_path, DVS, mode, ddp=False, events=True)
    cfg = model.cfg
    assert (cfg.img_size, cfg.pool_stages, cfg.T, cfg.chunk, cfg.encoding, cfg.dvs_pool) == \
        (64, "0011", 10, 5, "events", True)
    assert cfg.input_mean is None  # the official DVS frames are not normalised
    if mode == "STAtten":
        assert cfg.attn_scale == 1 / 1280
    else:
        assert cfg.attention == "sdsa" and cfg.sdsa_pool == "official"
    g = torch.Generator().manual_seed(3)
    x = ((torch.rand(DVS_SAMPLES, 10, 2, 64, 64, generator=g) < 0.1).float()
         * torch.randint(1, 4, (DVS_SAMPLES, 10, 2, 64, 64), generator=g))
    check_equal(off, model, x, x)


def test_bad_inputs_are_named_and_write_nothing(tmp_path, capsys):
    off, args = official_model(CODE / CIFAR)
    ck = save_as_train_py(off, args, tmp_path / "ok.pth")
    data = data_dir(tmp_path, (3, 32, 32))
    out = tmp_path / "out"

    def run(ckpt, yml, *extra):
        rc = export_main([str(ckpt), "--from", "statten", "--config", str(yml), "--calib-data", str(data),
                          "--out", str(out), *extra, *FAST])
        err = capsys.readouterr().err.strip().splitlines()
        return rc, err[-1] if err else ""

    rc, err = run(ck, CODE / "conf/cifar10/2_512_200E_t4.yml")  # a yml of another width
    assert rc == 2 and "does not match the --config" in err and "patch_embed.proj_conv.weight" in err
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(ck.read_bytes()[:100_000])
    rc, err = run(truncated, CODE / CIFAR)
    assert rc == 2 and "not a readable STAtten checkpoint" in err
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"features.0.weight": torch.zeros(3)}}, other)
    rc, err = run(other, CODE / CIFAR)
    assert rc == 2 and "not an official STAtten sdt model" in err and "features.0.weight" in err
    rc, err = run(ck, tmp_path / "missing.yml")
    assert rc == 2 and "no such file" in err
    bad_yml = tmp_path / "bad.yml"
    bad_yml.write_text("dataset: torch/cifar10\nlr: 0.1\n")
    rc, err = run(ck, bad_yml)
    assert rc == 2 and "no 'dim'" in err
    code = tmp_path / "code.pth"  # a pickle that would run code when loaded: refused, not run
    torch.save({"state_dict": {}, "hook": os.getcwd}, code)
    rc, err = run(code, CODE / CIFAR)
    assert rc == 2 and "posix.getcwd" in err
    rc = export_main([str(ck), "--from", "statten", "--out", str(out), *FAST])
    assert rc == 2 and "--config" in capsys.readouterr().err
    assert not out.exists()
