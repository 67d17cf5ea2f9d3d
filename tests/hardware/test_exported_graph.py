"""The mapper on a real `ds2ta-export` graph of an (untrained) tiny model, and the report on top."""

import json

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture()
def exported(tmp_path):
    from ds2ta.checkpoint import save_checkpoint
    from ds2ta.config import make_config
    from ds2ta.cli.export import main as export_main
    from ds2ta.model import DS2TA

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "model.pt", DS2TA(make_config("tiny")),
                    {"name": "digits", "input_scale": 1 / 16, "encoding": "direct"}, {"test_accuracy": 0.1})
    assert export_main([str(tmp_path / "model.pt"), "--out", str(tmp_path / "export"), "--max-eval", "16",
                        "--no-progress"]) == 0
    return tmp_path


def test_tiny_graph_maps_with_expected_layers(exported):
    from ds2ta.config import make_config
    from ds2ta.export import read_graph
    from ds2ta.hardware import check_fits

    cfg = make_config("tiny")
    g = read_graph(exported / "export" / "model.nir")
    assert g.metadata["attention_lowering"] == "neurons"           # ds2ta-export's default, recorded
    m = check_fits(g, chips=1, lowering="core")
    L = {ls.name: ls for ls in m.layers}
    D, N = cfg.embed_dim, cfg.num_tokens
    q = L["blocks.0.attn.q.lif"]
    assert q.replicas == cfg.taw and q.fan_in == D * 2            # two residual sources after the SPS
    assert L["blocks.0.attn.attn_lif"].kind == "attention"
    # head: each channel's tokens of the 4 residual sources (1-block model) pooled into one relay,
    # then one Affine over the D relays (graded messages)
    assert L["head.pool_li"].kind == "pool" and L["head.pool_li"].fan_in == N * 4
    assert L["head.readout"].fan_in == D and L["head.readout"].graded_input
    assert m.total_cores == len(L)                                 # tiny: every layer fits one core
    # neuron lowering: the populations sit before attn_lif, which the out population feeds one to one;
    # an untrained NSAD table is linear -> associative form (kv: N D d products), else pairwise (qk: N^2 D)
    n = check_fits(g, chips=1)
    Ln = {ls.name: ls for ls in n.layers}
    if n.attention["blocks.0.attn.core"]["form"] == "pairwise":
        assert Ln["blocks.0.attn.core.qk"].neurons == N * N * D
    else:
        assert Ln["blocks.0.attn.core.kv"].neurons == N * D * (D // cfg.heads)
    assert Ln["blocks.0.attn.attn_lif"].kind == "dense"
    assert Ln["blocks.0.attn.attn_lif"].sources == ("blocks.0.attn.core",)
    assert n.latency_steps == m.latency_steps - 1 + n.attention["blocks.0.attn.core"]["out_latency"]


def test_report_on_exported_run(exported):
    from ds2ta.export import read_graph
    from ds2ta.hardware import check_fits, write_mapping_json
    from ds2ta.cli.report import main

    g = read_graph(exported / "export" / "model.nir")
    write_mapping_json(check_fits(g), exported / "mapping.json")
    nodes = list(g.nodes)
    sim = {"backend": "reference", "graph": "model.nir", "samples": 1, "T": 4, "latency_steps": 12,
           "layers": {n: {"spikes": 0, "synops": 0, "graded_synops": 0, "neuron_updates": 0,
                          "attention_ops": 0, "neurons": 0} for n in nodes}, "per_sample": [], "accuracy": 0.0}
    sim["layers"]["sps.0.conv"]["graded_synops"] = 100            # a synapse node: folds onto sps.0.lif
    (exported / "simulation.json").write_text(json.dumps(sim))
    assert main([str(exported), "--no-calibration"]) == 0
    rep = json.loads((exported / "report.json").read_text())
    row = [r for r in rep["layers"] if r["layer"] == "sps.0.lif"][0]
    assert row["synops"] == 100
    assert rep["accuracy"]["quantized"] != "missing"               # read from quantization.json
    assert rep["energy"]["paper"]["total_J"] == pytest.approx(100 * 4.6e-12)
    # the tiny model's config is read from model.nir's metadata: the recorded H100 run is shown
    assert rep["model_config_source"].endswith("model.nir") and rep["gpu_recorded"]["shown"]
