"""Float NIR graphs written by third-party tools through their own NIR export paths (test helper).

Each builder returns ``(graph, dt, input_shape)``: the float graph as the library writes it, the time
step its conventions assume (snntorch: ``1e-4``, sinabs: ``1``) and the per-step input shape. Weights
are seeded and scaled so that every spiking layer fires on small random integer inputs after
``integerize_graph``.
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import torch


def snntorch_lif_mlp(seed: int = 0, per_neuron_beta: bool = False):
    """snntorch ``Linear -> Leaky -> Linear -> Leaky`` (NIR ``Affine``/``LIF``), biases included;
    ``per_neuron_beta`` gives the first layer's neurons different decays (learnable-beta style)."""
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        snn.Leaky(beta=torch.linspace(0.6, 0.95, 6) if per_neuron_beta else torch.full((6,), 0.9),
                  threshold=torch.ones(6), init_hidden=True),
        torch.nn.Linear(6, 3), snn.Leaky(beta=torch.full((3,), 0.8), threshold=torch.ones(3), init_hidden=True,
                                         output=True))
    with torch.no_grad():
        net[2].weight.abs_()  # excitatory second layer so the output layer fires often
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0])
    return g, 1e-4, (4,)


def sinabs_cnn(seed: int = 0):
    """sinabs ``Conv2d -> IAF -> SumPool2d -> Conv2d -> IAF -> Flatten -> Linear -> IAF`` with biases
    (NIR ``Conv2d``, ``IF``, ``SumPool2d``, ``Flatten``, ``Affine``)."""
    import sinabs.layers as sl
    from sinabs.nir import to_nir
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
        torch.nn.Conv2d(4, 4, 3, padding=1), sl.IAFSqueeze(batch_size=1), torch.nn.Flatten(),
        torch.nn.Linear(64, 3), sl.IAFSqueeze(batch_size=1))
    with torch.no_grad():
        for m in net:
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.bias.mul_(0.2)  # keep the biases small next to the weights, but nonzero
        net[3].weight.add_(0.05)  # excitatory bias in the deeper layers so every IF layer fires
        net[6].weight.abs_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = to_nir(net, torch.zeros(1, 1, 8, 8))
    return g, 1.0, (1, 8, 8)


def _snntorch_rsynaptic(seed: int):
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 3),
        snn.RSynaptic(alpha=torch.full((3,), 0.5), beta=torch.full((3,), 0.8), threshold=torch.ones(3),
                      linear_features=3, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.abs_()  # excitatory input so the layer fires on small inputs
        net[1].recurrent.weight.mul_(3.0)  # make the recurrent term matter next to the input
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0])


def snntorch_recurrent_cuba(seed: int = 0):
    """snntorch ``Linear -> RSynaptic`` (NIR ``Affine`` -> ``CubaLIF`` with a recurrent ``Affine``),
    as snntorch 1.0 writes it: flat nodes named ``"1.lif"``, ``"1.w_rec"``."""
    return _snntorch_rsynaptic(seed), 1e-4, (4,)


def as_subgraph(g: nir.NIRGraph) -> nir.NIRGraph:
    """``snntorch_recurrent_cuba``'s graph (float or integerized) with the recurrence as a NIR subgraph
    ``"1"`` with its own ``Input``/``Output`` nodes, as rockpool and older snntorch versions write
    recurrent layers."""
    lif, w_rec = g.nodes["1.lif"], g.nodes["1.w_rec"]
    n = int(np.asarray(lif.v_threshold).size)
    sub = nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif": lif, "w_rec": w_rec,
                              "output": nir.Output(np.array([n]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                       type_check=False)
    outer = nir.NIRGraph(nodes={"input": g.nodes["input"], "0": g.nodes["0"], "1": sub,
                                "output": g.nodes["output"]},
                         edges=[("input", "0"), ("0", "1"), ("1", "output")], type_check=False)
    return outer


GRAPHS = {
    "snntorch_lif_mlp": snntorch_lif_mlp,
    "snntorch_lif_mlp_per_neuron_beta": lambda seed=0: snntorch_lif_mlp(seed, per_neuron_beta=True),
    "sinabs_cnn": sinabs_cnn,
    "snntorch_recurrent_cuba": snntorch_recurrent_cuba,
}
