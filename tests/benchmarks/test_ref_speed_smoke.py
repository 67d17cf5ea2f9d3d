"""Smoke test of benchmarks/ref_speed.py on an untrained ``tiny`` model exported on digits (seconds).

Checks what the benchmark relies on: ``measure`` times the float forward and both lowerings on the same
samples and its ratios are the quotients of its times; ``--profile`` accounts one run node by node.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ref_speed():
    spec = importlib.util.spec_from_file_location("ref_speed", ROOT / "benchmarks" / "ref_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from ds2ta.checkpoint import save_checkpoint
    from ds2ta.cli.export import main as export_main
    from ds2ta.data import get_dataset
    from ds2ta.training import build_model

    work = tmp_path_factory.mktemp("ref_speed")
    _, _, info = get_dataset("digits")
    ckpt = save_checkpoint(work / "model.pt", build_model("tiny", info), info)
    assert export_main([str(ckpt), "--out", str(work / "export"), "--no-progress", "--max-eval", "8"]) == 0
    return ckpt, work / "export" / "model.nir"


def test_measure_times_every_column(ref_speed, exported, tmp_path):
    ckpt, graph = exported
    res = ref_speed.measure(ckpt, graph, samples=3, batch=2, repeats=2, threads=1)
    assert res["samples"] == 3 and res["batch"] == 2 and len(res["float_s_all"]) == 2
    assert set(res["reference_ms_per_sample"]) == {"neurons", "core"}
    for low, ms in res["reference_ms_per_sample"].items():
        assert ms == pytest.approx(1e3 * min(res["reference_s_all"][low]) / 3)
        assert res["ratio"][low] == pytest.approx(ms / res["float_ms_per_sample"])
    out = tmp_path / "r.json"
    assert ref_speed.main(["--ckpt", str(ckpt), "--graph", str(graph), "--samples", "2", "--batch", "2",
                           "--repeats", "1", "--threads", "1", "--lowerings", "core", "--out", str(out)]) == 0
    assert set(json.loads(out.read_text())["reference_ms_per_sample"]) == {"core"}


def test_profile_lists_every_node(ref_speed, exported):
    ckpt, graph = exported
    buf = io.StringIO()
    table = ref_speed.profile(ckpt, graph, "neurons", samples=2, batch=2, threads=1, file=buf)
    text = buf.getvalue()
    assert "LoweredAttentionK" in text and "per kernel type" in text and "tottime" in text
    assert any(n.endswith("attn.core") for n in table) and all(sum(t.values()) >= 0 for t in table.values())
