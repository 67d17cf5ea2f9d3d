"""Issue 13, case 4: ``ds2ta-export`` SIGKILLed while writing its outputs.

The folder keeps the previous export's complete set (never a new ``model.nir`` beside an old
``quantization.json``); the killed run's staging folder does not block the next export, which removes
it and writes a consistent set.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from ds2ta import DS2TA, make_config
from ds2ta.checkpoint import save_checkpoint
from ds2ta.cli.export import main
from ds2ta.export.nir_io import read_graph

FAST = ["--max-eval", "8", "--calib-batches", "1", "--no-progress"]

# A real export in a child process that stops, SIGKILL-able, after two of its three files are staged.
_CHILD = """
import sys, time
import ds2ta.cli.export as ex
real = ex.atomic_write_json
def slow(path, obj):
    real(path, obj)
    print("STAGED", path.parent, flush=True)
    time.sleep(120)
ex.atomic_write_json = slow
sys.exit(ex.main(sys.argv[1:]))
"""


def _ckpt(path, seed):
    torch.manual_seed(seed)
    save_checkpoint(path, DS2TA(make_config("tiny")).eval(),
                    {"name": "digits", "input_scale": 1 / 16, "encoding": "direct"},
                    {"test_accuracy": 0.1, "epochs": 0, "seconds": 0.0})
    return path


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _source(out):
    """The checkpoint each file of an export folder says it came from."""
    return {"model.nir": read_graph(out / "model.nir").metadata["source_checkpoint"],
            "quantization.json": json.loads((out / "quantization.json").read_text())["checkpoint"]}


@pytest.mark.slow
def test_sigkilled_export_leaves_the_old_set_and_never_blocks(tmp_path):
    a, b = _ckpt(tmp_path / "a" / "model.pt", 0), _ckpt(tmp_path / "b" / "model.pt", 1)
    out = tmp_path / "exp"
    assert main([str(a), "--out", str(out), *FAST]) == 0
    # what older versions left after a kill inside the folder: an atomic-write temporary
    (out / ".tmp-k3j2.nir").write_bytes(b"\x89HDF half")
    old = _snapshot(out)

    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(b), "--out", str(out), *FAST],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()  # blocks until the child has staged model.nir + quantization.json
    assert line.startswith("STAGED"), child.communicate()
    stage = line.split(None, 1)[1].strip()
    assert sorted(p.name for p in (tmp_path / stage.rsplit("/", 1)[-1]).iterdir()) == \
        ["model.nir", "quantization.json"]  # the new files exist, but only in the staging folder
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert _snapshot(out) == old  # the previous export, byte for byte
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-exp-")]
    assert leftovers == [stage.rsplit("/", 1)[-1]]

    t0 = time.monotonic()
    assert main([str(b), "--out", str(out), *FAST]) == 0  # not blocked by either leftover
    assert time.monotonic() - t0 < 120
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "exp"]  # staging folder removed
    assert sorted(p.name for p in out.iterdir()) == ["mapping.json", "model.nir", "quantization.json"]
    assert set(_source(out).values()) == {str(b)}  # one run's set, none of a's files beside it
