"""The SDT-V1 backbone (STAtten's) as a NIR graph: the float graph computes the PyTorch model, the
integer graph holds only chip parts (export/graph_sdt.py, export/maxpool_tree.py)."""

import numpy as np
import pytest
import torch

from ds2ta.config import make_config
from ds2ta.export.graph_build import build_float_graph
from ds2ta.export.model_quant import quantize_model
from ds2ta.model import DS2TA
from ds2ta.sims.reference.float_nir import FloatExecutor

SCALE = 1.0 / 16  # x_float = SCALE * x_int


def sdt_model(attention="sdsa", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = make_config("tiny", backbone="sdt", attention=attention, **kw)
    m = DS2TA(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    for mod in m.modules():  # BN statistics that are not the identity, so folding is exercised
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            mod.running_mean.copy_(torch.rand(mod.running_mean.shape, generator=g) * 0.4 - 0.2)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(mod.bias.shape, generator=g) * 0.4)
    return m


def lif_outputs(model, x):
    """Spikes of every LIF of the model, in graph layout (T, B, C, H, W); head (T, B, D, 1, 1)."""
    from ds2ta.neuron import LIF
    rec, hs = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, LIF):
            def hook(m, i, o, name=name):
                if o.dim() == 4:  # (T, B, N, D) tokens
                    g = int(round(o.shape[2] ** 0.5))
                    o = o.permute(0, 1, 3, 2).reshape(o.shape[0], o.shape[1], o.shape[3], g, g)
                elif o.dim() == 3:  # head (T, B, D)
                    o = o[..., None, None]
                rec[name] = o
            hs.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        logits = model(x)
    for h in hs:
        h.remove()
    return rec, logits


@pytest.mark.parametrize("dvs_pool,sdsa_pool", [(False, "official"), (True, "official"), (True, "grid")])
def test_float_graph_equals_the_model_spike_for_spike(dvs_pool, sdsa_pool):
    """Every LIF of the float graph (membrane stream as direct synapses, graded max-pool, head token
    sums through count relays; with dvs_pool the block's spike max-pools, SDSA's over each head's
    (token, channel) plane or over the grid) fires exactly as the PyTorch model's, and the read-out
    equals the logits."""
    m = sdt_model(dvs_pool=dvs_pool, sdsa_pool=sdsa_pool).double()
    if dvs_pool:  # Q, K, V active enough that K * V and the gate fire (else SDSA's pools are never tested)
        for name, mod in m.named_modules():
            if isinstance(mod, torch.nn.BatchNorm1d) and any(f"core.{c}." in name for c in "qkv"):
                mod.running_mean.fill_(-1.0)
    x = torch.randint(0, 17, (6, 1, 8, 8)).double()
    rec, logits = lif_outputs(m, x * SCALE)
    fg = build_float_graph(m, SCALE)
    out = FloatExecutor(fg, dt=1.0).run(x.unsqueeze(0).expand(m.cfg.T, *x.shape))
    assert len(rec) >= 9
    for name, spikes in rec.items():
        assert name in out, name
        got = out[name].reshape(spikes.shape)
        assert torch.equal(got, spikes), (name, (got != spikes).float().mean().item())
    assert any(float(s.mean()) > 0.02 for s in rec.values())  # a network that fires
    assert torch.allclose(out["head.readout"][-1], logits, atol=1e-9)
    if dvs_pool:
        p, D, heads, g = "blocks.0.attn.core", m.cfg.embed_dim, m.cfg.heads, m.cfg.grid
        for n in ("kv_lif", "kv_pool.lif", "attn_lif", "gate_lif", "gate_pool.lif"):
            assert 0.02 < float(out[f"{p}.{n}"].mean()) < 0.5, n
        plane = (heads, D // heads, g * g) if sdsa_pool == "official" else (D, g, g)
        assert out[f"{p}.kv_lif"].shape[2:] == out[f"{p}.gate_lif"].shape[2:] == plane
        assert out[f"{p}.kv_pool.lif"].shape[2:] == out[f"{p}.gate_pool.lif"].shape[2:] == (D, g, g)


def test_integer_graph_holds_the_comparison_network_not_the_max_pool():
    m = sdt_model()
    x = torch.rand(16, 1, 8, 8)
    ig, report, fg = quantize_model(m, SCALE, x)
    types = {type(v).__name__ for v in ig.nodes.values()}
    assert "DS2TAGradedMaxPool2d" in {type(v).__name__ for v in fg.nodes.values()}
    assert "DS2TAGradedMaxPool2d" not in types
    units = [n for n, v in ig.nodes.items() if type(v).__name__ == "DS2TAGraded"]
    assert len(units) == 10  # sh, 8 comparisons of a 3x3 window, feat
    assert sum(bool(ig.nodes[u].relu) for u in units) == 8
    # the per-channel offset B_c that makes zero padding lose enters once at sh (pre-shift bias) and is
    # removed once, at feat's base tap (a -B_c bias); the comparisons take none (tests/export/test_maxpool_tree.py)
    e = -int(np.asarray(ig.nodes["sps.pools.3.sh.in"].metadata["weight_exp"]))
    offset = np.asarray(ig.nodes["sps.pools.3.sh.in"].bias) >> e
    assert np.array_equal(offset << e, np.asarray(ig.nodes["sps.pools.3.sh.in"].bias))
    assert np.array_equal(np.asarray(ig.nodes["sps.pools.3.taps"].bias), -offset)
    assert not np.any([np.asarray(ig.nodes[f"sps.pools.3.relu{i}.taps"].bias) for i in range(8)])
