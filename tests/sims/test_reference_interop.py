"""A sub-network exported by ds2ta-export (standard NIR primitives only) runs in snntorch and norse
with spikes equal to the integer reference.

Convention adjustments (docs/nir-format.md, "Third-party executors"):
- snntorch ``import_from_nir`` hard-codes ``dt = 1e-4``: multiply ``tau_syn`` and ``tau_mem`` by 1e-4
  (``r = tau_mem / dt`` then still holds); it needs one threshold per node, so the sub-network is
  exported with ``per_channel=False``, and no ``v_leak`` (bias), so ``tie_break=False`` and zero BN shift.
- norse ``from_nir`` maps ``CubaLIF`` to a synapse + neuron pair with a one-step current delay; our
  ``tau_syn = dt`` CubaLIF is a plain LIF: write ``nir.LIF(tau=tau_mem)`` and, since norse ignores
  ``r`` (input gain ``dt / tau``), pre-scale the weights by ``tau / dt``.
With ``v`` a multiple of 64 and ``dv = 2048`` the integer decay is exact for T <= 6, so float and
integer executors agree bit for bit.
"""

from __future__ import annotations

import copy
import warnings

import nir
import numpy as np
import pytest
import torch

from ds2ta.config import make_config
from ds2ta.export.graph_build import build_float_graph
from ds2ta.export.graph_quant import quantize_graph
from ds2ta.model import DS2TA
from ds2ta.sims.reference import ReferenceExecutor

T = 4


@pytest.fixture(scope="module")
def exported():
    """The first SPS stage (Conv2d 3x3 -> CubaLIF) of a tiny DS2TA, exported by this package."""
    torch.manual_seed(0)
    model = DS2TA(make_config("tiny")).eval()
    bn = model.sps.stages[0].bn
    bn.running_mean.zero_(), bn.bias.data.zero_()  # folded bias 0 (snntorch refuses v_leak)
    bn.running_var.fill_(0.05)                     # scale weights up so that neurons fire
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full, _ = quantize_graph(build_float_graph(model, 1 / 16), dt=1.0, per_channel=False, tie_break=False)
    keep = ["input", "sps.0.conv", "sps.0.lif"]
    shape = full.nodes["sps.0.lif"].v_threshold.shape
    nodes = {k: full.nodes[k] for k in keep}
    nodes["output"] = nir.Output(np.array(shape))
    sub = nir.NIRGraph(nodes=nodes, edges=[("input", "sps.0.conv"), ("sps.0.conv", "sps.0.lif"),
                                            ("sps.0.lif", "output")], type_check=False)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 17, (T, 3, 1, 8, 8)))
    ref = ReferenceExecutor(sub).run(x, record=True).record["sps.0.lif"].long()
    assert 0 < int(ref.sum()) < ref.numel()  # the comparison is not trivially all-zero
    assert np.all(sub.nodes["sps.0.lif"].metadata["lava"]["bias_mant"] == 0)
    return sub, x, ref


def test_snntorch_import_matches_reference(exported):
    from snntorch.import_nir import import_from_nir
    sub, x, ref = exported
    g = copy.deepcopy(sub)
    lif = g.nodes["sps.0.lif"]
    lif.tau_syn, lif.tau_mem = lif.tau_syn * 1e-4, lif.tau_mem * 1e-4   # snntorch's dt = 1e-4
    g.nodes["sps.0.conv"].weight = g.nodes["sps.0.conv"].weight.astype(np.float32)
    net = import_from_nir(g)
    out, state = [], None
    with torch.no_grad():
        for t in range(T):
            o, state = net(x[t].float()) if state is None else net(x[t].float(), state)
            out.append(o)
    assert torch.equal(torch.stack(out).long(), ref)


def test_norse_import_matches_reference(exported):
    import norse.torch as nt
    sub, x, ref = exported
    g = copy.deepcopy(sub)
    c = g.nodes["sps.0.lif"]
    tau = c.tau_mem
    g.nodes["sps.0.lif"] = nir.LIF(tau=tau, r=np.ones_like(tau), v_leak=np.zeros_like(tau),
                                   v_threshold=c.v_threshold, v_reset=np.zeros_like(tau))
    g.nodes["sps.0.conv"].weight = (g.nodes["sps.0.conv"].weight * float(np.unique(tau)[0])).astype(np.float32)
    net = nt.from_nir(g, dt=1.0)
    out, state = [], None
    with torch.no_grad():
        for t in range(T):
            o, state = net(x[t].float(), state)
            out.append(o)
    assert torch.equal(torch.stack(out).long(), ref)
