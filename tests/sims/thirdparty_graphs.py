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


def avgpool_net(head: str = "affine"):
    """``Conv2d -> IF -> AvgPool2d(2)`` then ``-> IF`` (``head="neuron"``) or ``-> Flatten -> Affine -> IF``
    (``head="affine"``), as NIR writers emit torch's ``AvgPool2d``. The weights are +-2 (conv) and +-8
    (affine, +-2 once the 1/4 is folded) and the thresholds 3 and 0.9, so the 8-bit integer graph is exact
    (scale 127, no ties) and a float simulation is an independent oracle. Returns ``(graph, dt, shape)``."""
    rng = np.random.default_rng(7)
    conv_w = rng.choice([-2.0, 2.0, 2.0], size=(2, 1, 3, 3))
    nodes = {"input": nir.Input(np.array([1, 4, 4])),
             "conv": nir.Conv2d(input_shape=(4, 4), weight=conv_w, stride=1, padding=1, dilation=1, groups=1,
                                bias=np.zeros(2)),
             "if1": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.full((2, 4, 4), 3.0), v_reset=np.zeros((2, 4, 4))),
             "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))}
    edges = [("input", "conv"), ("conv", "if1"), ("if1", "pool")]
    if head == "neuron":
        nodes["if2"] = nir.IF(r=np.ones((2, 2, 2)), v_threshold=np.full((2, 2, 2), 0.9), v_reset=np.zeros((2, 2, 2)))
        nodes["output"] = nir.Output(np.array([2, 2, 2]))
        edges += [("pool", "if2"), ("if2", "output")]
    else:
        nodes["flat"] = nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1)
        nodes["fc"] = nir.Affine(weight=rng.choice([-8.0, 8.0, 8.0], size=(3, 8)), bias=np.zeros(3))
        nodes["if3"] = nir.IF(r=np.ones(3), v_threshold=np.full(3, 3.0), v_reset=np.zeros(3))
        nodes["output"] = nir.Output(np.array([3]))
        edges += [("pool", "flat"), ("flat", "fc"), ("fc", "if3"), ("if3", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), 1.0, (1, 4, 4)


def pool_chain_net(seed: int = 0):
    """The issue's minimal latency case ``Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> IF`` (sinabs
    style): the pool, flatten and affine form one synapse layer, so the latency is 2 steps, not 3."""
    g, dt, shape = sinabs_cnn(seed)
    nodes = {k: g.nodes[k] for k in ("input", "1")}
    c = g.nodes["0"]
    nodes["0"] = nir.Conv2d(input_shape=(8, 8), weight=np.asarray(c.weight), stride=1, padding=1, dilation=1,
                            groups=1, bias=np.asarray(c.bias))  # typed, so the graph can be written to a file
    nodes["2"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes["2"].input_type, nodes["2"].output_type = {"input": np.array([4, 8, 8])}, {"output": np.array([4, 4, 4])}
    nodes["flat"] = nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1)
    nodes["fc"] = nir.Affine(weight=np.abs(np.random.default_rng(seed).normal(0.1, 0.05, (3, 64))), bias=np.zeros(3))
    nodes["if"] = nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    nodes["output"] = nir.Output(np.array([3]))
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt, shape


def nir_paper_cnn(seed: int = 0):
    """The NIR paper's CNN (Pedersen et al. 2024, its N-MNIST ``paper/02_cnn``), written by sinabs with
    random weights: ``Conv2d(2->16, 5, s2, p1) -> IF -> Conv2d(16->16, 3, p1) -> IF -> SumPool2d(2) ->
    Conv2d(16->8, 3, p1) -> IF -> SumPool2d(2) -> Flatten -> Affine(128->256) -> IF -> Affine(256->10) -> IF``
    on (2, 34, 34) event frames, no biases; node names as in the paper's file. The types sinabs leaves
    None are filled in, as a user must before ``nir.write``."""
    import sinabs.layers as sl
    from sinabs.nir import to_nir
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 16, 5, stride=2, padding=1, bias=False), sl.IAFSqueeze(batch_size=1),
        torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
        torch.nn.Conv2d(16, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 256, bias=False), sl.IAFSqueeze(batch_size=1),
        torch.nn.Linear(256, 10, bias=False), sl.IAFSqueeze(batch_size=1))
    with torch.no_grad():
        for m in net:
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(4.0)  # wider than torch's default init, so every IF layer fires (not every step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = to_nir(net, torch.zeros(1, 2, 34, 34))
    for name, hw in (("0", (34, 34)), ("2", (16, 16)), ("5", (8, 8))):
        g.nodes[name].input_shape = np.array(hw)
    g.nodes["8"].input_type = {"input": np.array([8, 4, 4])}
    return g, 1.0, (2, 34, 34)


def conv1d_net(seed: int = 0):
    """A hand-written float ``Conv1d -> LIF -> Conv1d (stride 2) -> LIF -> Flatten -> Affine -> LIF`` on
    (2, 16) inputs (no framework in the test environment writes Conv1d)."""
    rng = np.random.default_rng(seed)
    f = lambda *shape: np.full(shape, 2.0)
    lif = lambda *shape: nir.LIF(tau=f(*shape), r=f(*shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape),
                                 v_reset=np.zeros(shape))
    nodes = {"input": nir.Input(np.array([2, 16])),
             "c1": nir.Conv1d(input_shape=16, weight=rng.normal(0.1, 0.4, (4, 2, 3)), stride=1, padding=1,
                              dilation=1, groups=1, bias=np.zeros(4)),
             "l1": lif(4, 16),
             "c2": nir.Conv1d(input_shape=16, weight=rng.normal(0.1, 0.4, (4, 4, 3)), stride=2, padding=1,
                              dilation=1, groups=1, bias=rng.normal(0, 0.05, 4)),
             "l2": lif(4, 8),
             "flat": nir.Flatten(input_type={"input": np.array([4, 8])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.normal(0.1, 0.3, (3, 32)), bias=np.zeros(3)),
             "l3": lif(3), "output": nir.Output(np.array([3]))}
    edges = [("input", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l2", "flat"), ("flat", "fc"),
             ("fc", "l3"), ("l3", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), 1.0, (2, 16)


GRAPHS = {
    "snntorch_lif_mlp": snntorch_lif_mlp,
    "snntorch_lif_mlp_per_neuron_beta": lambda seed=0: snntorch_lif_mlp(seed, per_neuron_beta=True),
    "sinabs_cnn": sinabs_cnn,
    "snntorch_recurrent_cuba": snntorch_recurrent_cuba,
}


def norse_lif_mlp(seed: int = 0, dt: float = 1e-3):
    """norse ``Linear -> LIFBoxCell -> Linear -> LIFBoxCell`` (NIR ``Affine``/``LIF``) written by norse's
    own ``to_nir``. norse 1.1 writes ``tau = dt / tau_mem_inv`` (norse issue #411) and reads it back as
    ``tau_mem_inv = 1 / tau``, so its run of the file decays by ``dt / tau`` per step: ``tau_mem_inv``
    here is chosen so the file's ``tau`` is 10 steps of ``dt``. The input is written without a batch
    dimension (``sample_data`` of shape ``(4,)``)."""
    import norse.torch as nt
    from norse.torch.utils.export_nir import to_nir
    torch.manual_seed(seed)
    p = lambda n: nt.LIFBoxParameters(tau_mem_inv=torch.full((n,), 0.1), v_th=torch.ones(n),  # tau = dt / 0.1
                                      v_leak=torch.zeros(n), v_reset=torch.zeros(n))
    net = nt.SequentialState(torch.nn.Linear(4, 6), nt.LIFBoxCell(p(6)), torch.nn.Linear(6, 3), nt.LIFBoxCell(p(3)))
    with torch.no_grad():
        net[0].weight.mul_(8.0)   # gain dt / tau = 0.1: larger weights so both layers fire on small inputs
        net[2].weight.abs_().mul_(8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = to_nir(net, torch.zeros(4), dt=dt)
    return g, dt, (4,)
