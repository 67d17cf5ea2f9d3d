"""Smoke test of benchmarks/sim_speed.py at --quick sizes (Lava; a few seconds).

Checks what the benchmark relies on and could get wrong: the Lava process count of a chain counted
by hand from the graph, that the Lava/reference comparison really raises on unequal spikes, and that
the written JSON holds one row per requested depth.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.lava

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim_speed():
    pytest.importorskip("lava")
    spec = importlib.util.spec_from_file_location("sim_speed", ROOT / "benchmarks" / "sim_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _hand_count(depth: int) -> int:
    """Lava processes of Input -> (Affine -> CubaLIF) x depth -> Output: one memmap source for the Input,
    per layer one Dense (the Affine) and one LIF, two recorders (the recorded populations, input and
    ``depth`` LIFs, shared by ``network.RECORDERS = 2``); a plain chain needs no delay lines and NIR Output
    is not a process."""
    return 1 + depth * 2 + 2


def test_chain_process_count_and_table(sim_speed, tmp_path):
    depths = [1, 3]
    res = sim_speed.per_step_scaling(depths, width=8, T=3, samples=2, progress=False)
    assert [r["depth"] for r in res["rows"]] == depths
    assert [r["processes"] for r in res["rows"]] == [_hand_count(d) for d in depths]
    # sequential schedule: a sample every T + depth steps (one synapse step per layer)
    assert [r["steps"] for r in res["rows"]] == [2 * (3 + d) for d in depths]
    assert all(0 < r["spike_rate"] < 1 and r["ms_per_step"] > 0 for r in res["rows"])  # neither silent nor saturated
    assert set(res["fit"]) == {"ms_per_process_per_step", "intercept_ms", "loglog_exponent"}


def test_compare_backends_checks_equality(sim_speed):
    rng = np.random.default_rng(1)
    g = sim_speed.chain_graph(2, 6, rng)
    x = torch.from_numpy(rng.integers(0, 4, (3, 2, 6)))                  # (T, samples, n)
    res = sim_speed.compare_backends(g, x, repeats=1, modes=(True,))
    assert res["compared_layers"] == ["input", "lif0", "lif1"]
    assert res["spikes_per_layer"]["lif1"] > 0  # not a vacuous comparison (and the failure below can fail)
    assert res["lava"]["pipelined"]["processes"] == _hand_count(2)
    assert res["reference"]["cpu"]["ratio_over_lava"]["pipelined"] > 0
    # the check must be able to fail: a reference whose last layer never spikes differs from Lava
    from ds2ta.sims.lava import LavaNetwork
    from ds2ta.sims.reference import ReferenceExecutor
    run = LavaNetwork(g, 3).run(x.transpose(0, 1).numpy())
    ex = ReferenceExecutor(g)
    ref = ex.run(x, record=True)
    ref.record["lif1"] = torch.zeros_like(ref.record["lif1"])
    with pytest.raises(AssertionError, match="lif1"):
        sim_speed._check_equal(run, ref, ex, 3, 2)


def test_main_quick_writes_json(sim_speed, tmp_path):
    out = tmp_path / "r.json"
    assert sim_speed.main(["--quick", "--skip-part1", "--depths", "1", "2", "--width", "4", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["depth"] for r in data["lava_step_vs_processes"]["rows"]] == [1, 2]
    assert data["machine"]["cpu_count"] >= 1 and data["lava_vs_reference"] is None
