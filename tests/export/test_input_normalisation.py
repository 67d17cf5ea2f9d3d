"""Input normalisation inside the model (``input_mean`` / ``input_std``), folded exactly into the chip's
first conv: weights ``W / s`` and one bias per neuron for the zero-padded border (export/bn.py)."""

import numpy as np
import pytest
import torch

from ds2ta.config import make_config
from ds2ta.export.bn import fold_input_normalisation
from ds2ta.export.graph_build import build_float_graph
from ds2ta.model import DS2TA
from ds2ta.sims.reference.float_nir import FloatExecutor

from test_export_sdt import SCALE, lif_outputs

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # STAtten's cifar10 yml


def test_model_normalises_its_input_per_channel():
    cfg = make_config("tiny", in_channels=3, input_mean=MEAN, input_std=STD)
    m = DS2TA(cfg).eval()
    x = torch.rand(2, 3, 8, 8)
    by_hand = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(m.encode(x)[1], by_hand, atol=1e-7)
    plain = DS2TA(make_config("tiny", in_channels=3)).eval()
    plain.load_state_dict(m.state_dict())
    assert torch.allclose(m(x), plain(by_hand), atol=1e-6)


@pytest.mark.parametrize("bad,msg", [(dict(input_mean=(0.5,)), "both"),
                                     (dict(input_mean=(0.5, 0.5), input_std=(0.2, 0.2)), "1 input channels"),
                                     (dict(input_mean=(0.5,), input_std=(0.0,)), "positive")])
def test_bad_normalisation_is_named(bad, msg):
    with pytest.raises(ValueError, match=msg):
        make_config("tiny", **bad)


def test_fold_equals_the_convolution_of_the_padded_normalised_image():
    """Hand-checked against torch: conv(pad0((x - m) / s), W) == conv(pad0(x), W / s) + bias map, with a
    border that differs from the interior (what folding into one bias per channel gets wrong)."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    x = torch.rand(4, 3, 7, 7, generator=g, dtype=torch.float64)
    m, s = torch.tensor(MEAN, dtype=torch.float64), torch.tensor(STD, dtype=torch.float64)
    want = torch.nn.functional.conv2d((x - m.view(1, 3, 1, 1)) / s.view(1, 3, 1, 1), w, b, padding=1)
    wf, bias = fold_input_normalisation(w.numpy(), b.numpy(), MEAN, STD, 7, padding=1)
    got = torch.nn.functional.conv2d(x, torch.from_numpy(wf), padding=1) + torch.from_numpy(bias)
    assert torch.allclose(got, want, atol=1e-12)
    assert bias.shape == (5, 7, 7)
    assert not np.allclose(bias[:, 0, 0], bias[:, 3, 3])  # the corner's constant is not the interior's


def test_sdt_float_graph_equals_the_normalised_model_spike_for_spike():
    """The float NIR graph takes integer pixels and fires every LIF exactly as the model that normalises
    them, on the border too (the first LIF's border neurons differ from what a per-channel bias gives)."""
    from test_export_sdt import sdt_model
    m = sdt_model("sdsa", input_mean=(0.45,), input_std=(0.22,)).double()  # the float executor: standard nodes
    x = torch.randint(0, 17, (8, 1, 8, 8)).double()
    rec, logits = lif_outputs(m, x * SCALE)
    fg = build_float_graph(m, SCALE)
    out = FloatExecutor(fg, dt=1.0).run(x.unsqueeze(0).expand(m.cfg.T, *x.shape))
    border = torch.ones(8, 8, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert float(rec["sps.lifs.0"][..., border].mean()) > 0.05  # the border fires: it is exercised
    for name, spikes in rec.items():
        assert name in out, name
        got = out[name].reshape(spikes.shape)
        assert torch.equal(got, spikes), (name, (got != spikes).float().mean().item())
    assert torch.allclose(out["head.readout"][-1], logits, atol=1e-9)


def test_spikformer_first_lif_current_equals_the_normalised_model():
    """Spikformer backbone: the graph's first synapse plus bias (``W' x_int + v_leak / tau``) is the
    model's ``BN(conv(normalised x)) / tau`` at every position, border included."""
    torch.manual_seed(0)
    m = DS2TA(make_config("tiny", input_mean=(0.45,), input_std=(0.22,))).eval().double()
    bn = m.sps.stages[0].bn
    bn.running_mean.uniform_(-0.3, 0.3)
    bn.running_var.uniform_(0.5, 1.5)
    seen = {}
    h = bn.register_forward_hook(lambda mod, i, o: seen.setdefault("bn", o))
    x = torch.randint(0, 17, (5, 1, 8, 8)).double()
    with torch.no_grad():
        m(x * SCALE)
    h.remove()
    fg = build_float_graph(m, SCALE)
    conv, lif = fg.nodes["sps.0.conv"], fg.nodes["sps.0.lif"]
    cur = torch.nn.functional.conv2d(x, torch.from_numpy(conv.weight), padding=1) \
        + torch.from_numpy(lif.v_leak / lif.tau_mem)
    tau = m.cfg.lif_tau
    assert torch.allclose(cur, seen["bn"][:5] / tau, atol=1e-12)  # step 0 (the image repeats over T)
