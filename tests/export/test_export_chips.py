"""``ds2ta-export --chips auto|N`` (ds2ta/cli/export_chips.py): the default maps a model onto the chips it
needs, a cap below that is refused naming the need, a bad value is one line. Oracle for the need: the
mapper run with a cap far above any model (``check_fits(graph, chips=10_000)``), its cores divided by the
chip's cores per chip, on the graph the export wrote."""

from __future__ import annotations

import json

import pytest

from ds2ta.cli.export import main
from ds2ta.export.nir_io import read_graph
from ds2ta.hardware import LOIHI2, check_fits

NO_CAP = 10_000  # chips: never the limit


@pytest.fixture
def wide(tmp_path):
    """Untrained tiny DS2TA with embed_dim 640: over one chip's 128 cores with the attention core."""
    from ds2ta import DS2TA, make_config
    from ds2ta.checkpoint import save_checkpoint
    p = tmp_path / "wide" / "model.pt"
    save_checkpoint(p, DS2TA(make_config("tiny", embed_dim=640)).eval(),
                    {"name": "digits", "input_scale": 1 / 16, "encoding": "direct"},
                    {"test_accuracy": 0.1, "epochs": 0, "seconds": 0.0})
    return p


ARGS = ["--max-eval", "8", "--calib-batches", "1", "--no-progress", "--attention-lowering", "core"]


def test_default_maps_onto_the_chips_the_model_needs_and_a_smaller_cap_is_refused(wide, tmp_path, capsys):
    out = tmp_path / "auto"
    assert main([str(wide), "--out", str(out), *ARGS]) == 0
    printed = capsys.readouterr().out
    free = check_fits(read_graph(out / "model.nir"), chips=NO_CAP)
    per_chip = int(LOIHI2.cores_per_chip.value)
    need = -(-free.total_cores // per_chip)
    assert need >= 2  # the case --chips auto is for
    mapping = json.loads((out / "mapping.json").read_text())
    assert (mapping["chips"], mapping["total_cores"], mapping["chips_allowed"]) == (need, free.total_cores, None)
    assert max(c["chip"] for c in mapping["cores"]) == need - 1
    rep = json.loads((out / "quantization.json").read_text())
    assert rep["chips"] == {"requested": "auto", "used": need, "cores": free.total_cores}
    assert f"{free.total_cores} cores on {need} chip(s)" in printed
    # a cap one chip short: refused before the evaluation, naming the cores and the chips needed
    short = tmp_path / "short"
    assert main([str(wide), "--out", str(short), *ARGS, "--chips", str(need - 1)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not short.exists()
    assert f"needs {free.total_cores} cores" in err and f"Use --chips {need} " in err
    assert f"limit is {(need - 1) * per_chip} cores" in err
    # the cap that holds it maps the same cores and records the cap
    capped = tmp_path / "capped"
    assert main([str(wide), "--out", str(capped), *ARGS, "--chips", str(need + 1)]) == 0
    m2 = json.loads((capped / "mapping.json").read_text())
    assert (m2["chips"], m2["total_cores"], m2["chips_allowed"]) == (need, free.total_cores, need + 1)
    assert json.loads((capped / "quantization.json").read_text())["chips"]["requested"] == need + 1
    assert f"on {need} chip(s) (of {need + 1} allowed)" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "2.5"])
def test_bad_chips_value_is_one_line_and_exit_2(bad, wide, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main([str(wide), "--out", str(out), *ARGS, "--chips", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--chips {bad}:" in err[0] and "positive integer" in err[0] and "auto" in err[0]
    assert not out.exists()
