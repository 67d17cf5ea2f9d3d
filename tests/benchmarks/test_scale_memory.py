"""benchmarks/scale.py's memory measurement against children whose memory is known by construction."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _scale():
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CHILD = """
import os, sys, time
import numpy as np
n = int(sys.argv[1]); mb = int(sys.argv[2])
kids = []
for _ in range(n - 1):
    pid = os.fork()
    if pid == 0:
        a = np.ones(mb * 2**20 // 8); time.sleep(1.5); os._exit(0)
    kids.append(pid)
a = np.ones(mb * 2**20 // 8); time.sleep(1.5)
for k in kids:
    os.waitpid(k, 0)
"""


@pytest.mark.parametrize("procs", [1, 3])
def test_run_stage_measures_private_memory_of_the_whole_tree(procs, tmp_path):
    """``procs`` processes each touch 200 MiB of private pages: the tree's summed PSS must see all of
    them (>= procs x 200 MiB), while the largest single process's RSS sees one share."""
    pytest.importorskip("psutil")
    scale = _scale()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    st = scale.run_stage([sys.executable, str(script), str(procs), "200"], tmp_path / "log.txt", poll_s=0.05)
    mib = 2 ** 20 / 1e9
    assert st["rc"] == 0
    assert st["processes"] == procs
    assert st["peak_pss_gb"] >= procs * 200 * mib * 0.95
    assert 200 * mib <= st["peak_rss_gb"] < (200 + 150) * mib  # one process: its pages + the interpreter


def test_firing_rates_take_only_spiking_layers():
    import nir
    import numpy as np

    scale = _scale()
    z = np.zeros(3)
    g = nir.NIRGraph(nodes={"a": nir.LIF(tau=z + 2, r=z + 1, v_leak=z, v_threshold=z + 1),
                            "ro": nir.LI(tau=z + 1, r=z + 1, v_leak=z)}, edges=[("a", "ro")])
    layers = {"a": {"spikes": 3, "neuron_updates": 12}, "ro": {"spikes": 0, "neuron_updates": 12}}
    assert scale.firing_rates(layers, g) == {"a": 0.25}
