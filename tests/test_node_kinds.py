"""Every node kind of ``ds2ta.hardware.kinds.KINDS`` through every consumer, in NIR's style (one example graph
per kind): the quantizer, the float executor, the integer reference, Lava's schedule and counters, the mapper.

Each consumer either handles the kind or refuses it with a ``ValueError`` that names the node and its type
(a float-only kind in an integer consumer). A kind without an example here fails
(``test_every_kind_has_an_example``), as does a NIR node type that the table neither holds nor refuses
(``test_every_nir_type_is_in_the_table``), and a kind whose arithmetic is missing fails the coverage run
(``test_an_incomplete_kind_fails_the_coverage``). docs/architecture.md, "Adding a node type".
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

import ds2ta.export as E
import pathlib, sys  # noqa: E401
sys.path.insert(0, str(pathlib.Path(__file__).parent / "sims"))
import graded_graphs  # noqa: E402
from ds2ta.export.graph_quant import integerize_graph
from ds2ta.export.nir_graded import DS2TAGraded, DS2TAGradedMaxPool2d, DS2TASigmaDelta
from ds2ta.hardware import kinds
from ds2ta.hardware.mapper import check_fits
from ds2ta.sims.reference.executor import ReferenceExecutor
from ds2ta.export.graph_quant import REFUSED_ROLES as QUANT_REFUSES
from ds2ta.sims.reference.float_nir import REFUSED_ROLES, FloatExecutor

C, H, W, T, B = 2, 4, 4, 3, 2
RNG = np.random.default_rng(0)


def _w(*shape):
    return RNG.normal(0.0, 0.5, shape)


def neuron(kind: str, shape) -> nir.NIRNode:
    s = tuple(shape)
    f = lambda v: np.full(s, float(v))
    return {"LIF": lambda: nir.LIF(tau=f(2), r=f(2), v_leak=f(0), v_threshold=f(0.5), v_reset=f(0)),
            "CubaLIF": lambda: nir.CubaLIF(tau_syn=f(2), tau_mem=f(2), r=f(2), v_leak=f(0), v_threshold=f(0.5),
                                           v_reset=f(0), w_in=f(1)),
            "IF": lambda: nir.IF(r=f(1), v_threshold=f(0.5), v_reset=f(0)),
            "LI": lambda: nir.LI(tau=f(2), r=f(2), v_leak=f(0)),
            "CubaLI": lambda: nir.CubaLI(tau_syn=f(2), tau_mem=f(2), r=f(2), v_leak=f(0), w_in=f(1)),
            "I": lambda: nir.I(r=f(1))}[kind]()


def conv(c_in, c_out, k=3, pad=1, hw=(H, W)):
    return nir.Conv2d(input_shape=hw, weight=_w(c_out, c_in, k, k), stride=1, padding=pad, dilation=1, groups=1,
                      bias=np.zeros(c_out))


def conv1d(c_in, c_out, k=3, stride=1, pad=1, dil=1, L=H * W):
    return nir.Conv1d(input_shape=L, weight=_w(c_out, c_in, k), stride=stride, padding=pad, dilation=dil, groups=1,
                      bias=_w(c_out))


def chain(*steps, in_shape=(C, H, W)):
    """A graph from ``(name, node)`` steps wired in a line, from ``input`` to ``output``."""
    nodes = {"input": nir.Input(np.array(in_shape))}
    edges, prev = [], "input"
    for name, node in steps:
        nodes[name] = node
        edges.append((prev, name))
        prev = name
    nodes["output"] = nir.Output(np.array([1]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def base(first="LIF", head="LIF", head_syn=None, mid=()):
    """Input -> Conv2d -> first -> [mid] -> Flatten -> Affine -> head -> Output."""
    n_flat = int(np.prod(mid[-1][2])) if mid else 3 * H * W
    syn = head_syn or nir.Affine(weight=_w(5, n_flat), bias=np.zeros(5))
    return chain(("conv", conv(C, 3)), ("lif1", neuron(first, (3, H, W))), *[(a, b) for a, b, _ in mid],
                 ("flat", nir.Flatten(input_type={"input": np.array(mid[-1][2] if mid else [3, H, W])})),
                 ("head", syn), ("out", neuron(head, (5,))))


def attention(block: bool):
    D, N = 4, H * W
    nodes = {"input": nir.Input(np.array([C, H, W]))}
    edges = []
    for k in "qkv":
        nodes[f"{k}.conv"] = conv(C, D, k=1, pad=0)
        nodes[f"{k}.lif"] = neuron("LIF", (D, H, W))
        edges += [("input", f"{k}.conv"), (f"{k}.conv", f"{k}.lif"), (f"{k}.lif", "att")]
    ops = ["q.lif", "k.lif", "v.lif"]
    nodes["att"] = (E.DS2TABlockAttention(channels=D, heads=2, tokens_shape=(H, W), chunk=T, scale=0.25, operands=ops)
                    if block else
                    E.DS2TASpikeAttention(channels=D, heads=2, tokens_shape=(H, W), scale=0.25, operands=ops,
                                          table=np.tile(np.linspace(0, 1, D // 2 + 1), (2, 1))))
    nodes["att.lif"] = neuron("LIF", (D, H, W))
    nodes["flat"] = nir.Flatten(input_type={"input": np.array([D, H, W])})
    nodes["head"] = nir.Affine(weight=_w(5, D * N), bias=np.zeros(5))
    nodes["out"] = neuron("LIF", (5,))
    nodes["output"] = nir.Output(np.array([5]))
    edges += [("att", "att.lif"), ("att.lif", "flat"), ("flat", "head"), ("head", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def graded():
    """Input -> Conv2d -> LIF -> Conv2d -> DS2TAGraded (relu) -> Conv2d -> LIF -> Flatten -> Affine -> LIF."""
    return chain(("conv", conv(C, 3)), ("lif1", neuron("LIF", (3, H, W))), ("to_u", conv(3, 3, k=1, pad=0)),
                 ("unit", DS2TAGraded(shape=(3, H, W), relu=True)), ("from_u", conv(3, 3, k=1, pad=0)),
                 ("lif2", neuron("LIF", (3, H, W))), ("flat", nir.Flatten(input_type={"input": np.array([3, H, W])})),
                 ("head", nir.Affine(weight=_w(5, 3 * H * W), bias=np.zeros(5))), ("out", neuron("LIF", (5,))))


def sigma_delta(integer: bool):
    """Input -> Conv2d -> DS2TASigmaDelta -> Flatten -> Affine -> DS2TASigmaDelta (sigma read-out); integer
    weights when ``integer`` (a netx SDNN as ds2ta-export writes it)."""
    w = (lambda *s: RNG.integers(-8, 9, s)) if integer else _w
    return chain(("conv", nir.Conv2d(input_shape=(H, W), weight=w(3, C, 3, 3), stride=1, padding=1, dilation=1,
                                     groups=1, bias=np.zeros(3))),
                 ("sd", DS2TASigmaDelta(shape=(3, H, W), vth=1, bias=RNG.integers(-2, 3, (3, H, W)))),
                 ("flat", nir.Flatten(input_type={"input": np.array([3, H, W])})),
                 ("head", nir.Affine(weight=w(5, 3 * H * W) * 2, bias=np.zeros(5))),
                 ("out", DS2TASigmaDelta(shape=(5,), mode="sigma", relu=False)))


POOLED = [("pool", nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])), None),
          ("lif2", neuron("IF", (3, 2, 2)), [3, 2, 2])]
# kind -> (float graph, the node of that kind). Float-only kinds also give the integer graph they are
# refused in: the quantized graph of another example with the kind's node put in place of one of its nodes.
EXAMPLES = {
    "Input": lambda: (base(), "input"), "Output": lambda: (base(), "output"),
    "Conv2d": lambda: (base(), "conv"), "Affine": lambda: (base(), "head"), "Flatten": lambda: (base(), "flat"),
    "Linear": lambda: (base(head_syn=nir.Linear(weight=_w(5, 3 * H * W))), "head"),
    "Scale": lambda: (base(mid=[("scale", nir.Scale(np.abs(_w(3 * H * W)) + 0.5), None),
                                ("lif2", neuron("LIF", (3, H, W)), [3, H, W])]), "scale"),
    "SumPool2d": lambda: (base(mid=POOLED), "pool"),
    "Delay": lambda: (base(mid=[("delay", nir.Delay(np.ones((3, H, W))), [3, H, W])]), "delay"),
    **{k: (lambda k=k: (base(first=k), "lif1")) for k in ("LIF", "CubaLIF", "IF")},
    **{k: (lambda k=k: (base(head=k), "out")) for k in ("LI", "CubaLI", "I")},
    "Threshold": lambda: (chain(("conv", conv(C, 3)), ("lif1", neuron("LIF", (3, H, W))),
                                ("flat", nir.Flatten(input_type={"input": np.array([3, H, W])})),
                                ("head", nir.Affine(weight=_w(5, 3 * H * W), bias=np.zeros(5))),
                                ("out", nir.Threshold(np.full(5, 0.5)))), "out"),
    "DS2TAGraded": lambda: (graded(), "unit"),
    "DS2TASigmaDelta": lambda: (sigma_delta(integer=False), "sd"),
    "Conv1d": lambda: (chain(("c1", conv1d(C, 3)), ("lif1", neuron("LIF", (3, H * W))),
                             ("flat", nir.Flatten(input_type={"input": np.array([3, H * W])})),
                             ("head", nir.Affine(weight=_w(5, 3 * H * W), bias=np.zeros(5))),
                             ("out", neuron("LIF", (5,))), in_shape=(C, H * W)), "c1"),
    "DS2TASpikeAttention": lambda: (attention(block=False), "att"),
    "DS2TABlockAttention": lambda: (attention(block=True), "att"),
    "AvgPool2d": lambda: (base(mid=[("pool", nir.AvgPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
                                     None), ("lif2", neuron("IF", (3, 2, 2)), [3, 2, 2])]), "pool"),
    "DS2TAGradedMaxPool2d": lambda: (chain(("conv", conv(C, 3)), ("lif1", neuron("LIF", (3, H, W))),
                                           ("to_relay", conv(3, 3, k=1, pad=0)), ("relay", nir.LI(tau=np.ones((3, H, W)),
                                                                                r=np.ones((3, H, W)),
                                                                                v_leak=np.zeros((3, H, W)))),
                                           ("pool", DS2TAGradedMaxPool2d(channels=3, input_shape=(H, W))),
                                           ("conv2", conv(3, 3, k=1, pad=0, hw=(2, 2))),
                                           ("lif2", neuron("LIF", (3, 2, 2))),
                                           ("flat", nir.Flatten(input_type={"input": np.array([3, 2, 2])})),
                                           ("head", nir.Affine(weight=_w(5, 12), bias=np.zeros(5))),
                                           ("out", neuron("LIF", (5,)))), "pool"),
}
# kinds whose integer graph is not a quantized float graph (the quantizer writes graded units itself; a
# sigma-delta network comes from lava-dl as integers)
INTEGER_EXAMPLES = {"DS2TAGraded": lambda: (graded_graphs.maxpool_graph()[0], "sh"),
                    "DS2TASigmaDelta": lambda: (sigma_delta(integer=True), "sd")}
# a NIR type the table does not hold must be listed here with the reason (none today)
NOT_IN_TABLE = {"NIRGraph": "a subgraph: every consumer flattens it (export/nir_io.py, flatten_graph)",
                "NIRNode": "the base class"}


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def integer_graph(kind: str):
    """The integer graph of a kind's example (a float-only node put back in place of its rewrite)."""
    g, name = EXAMPLES[kind]()
    if kind in INTEGER_EXAMPLES:
        return INTEGER_EXAMPLES[kind]()
    if kinds.KINDS[kind].role != kinds.FLOAT_ONLY:
        return _quiet(integerize_graph, g, dt=1.0), name
    donor = _quiet(integerize_graph, EXAMPLES["SumPool2d"]()[0], dt=1.0)
    donor.nodes["pool"] = g.nodes[name]
    return donor, "pool"


def _lava_counts(g):
    """Lava's schedule and process tables for the graph, and its counters on zero records."""
    from ds2ta.sims.lava.counters import count_layers
    from ds2ta.sims.lava.network import LavaNetwork
    net = LavaNetwork(g, T=T)
    records = {n: np.zeros((1, T, p.size), np.int64) for n, p in net.schedule.populations.items()}
    for name, low in net.lowered().items():
        records.update({f"{name}.{u.suffix}": np.zeros((1, T, int(np.prod(u.shape))), np.int64)
                        for u in low.units if u.suffix != "out"})
    return count_layers(net.schedule, records, {}, T, net.lowered())


X_INT = torch.from_numpy(RNG.integers(0, 3, (T, B, C, H, W)))


def _x(g):
    """``X_INT`` in the shape of the graph's input."""
    return X_INT.reshape(T, B, *np.asarray(g.nodes["input"].input_type["input"]).astype(int))
CONSUMERS = {
    "quantizer": lambda g: _quiet(integerize_graph, g, dt=1.0),
    "float executor": lambda g: FloatExecutor(g, dt=1.0).run(_x(g).double()),
    "reference": lambda g: ReferenceExecutor(g).run(_x(g)),
    "lava": _lava_counts,
    "mapper": lambda g: check_fits(g, chips=None),
}
FLOAT_CONSUMERS = ("quantizer", "float executor")
REFUSES = {"float executor": REFUSED_ROLES, "quantizer": QUANT_REFUSES}  # consumer -> {role: why} it refuses by name


def run_consumer(kind: str, consumer: str) -> None:
    """Run ``consumer`` on the kind's example; a refusal must name the node and its type."""
    if consumer in FLOAT_CONSUMERS:
        g, name = EXAMPLES[kind]()
    else:
        g, name = integer_graph(kind)
    role = kinds.KINDS[kind].role
    refused = (consumer not in FLOAT_CONSUMERS and role == kinds.FLOAT_ONLY) or role in REFUSES.get(consumer, {})
    if refused:
        with pytest.raises(ValueError, match=f"{kind} '{name}'"):
            CONSUMERS[consumer](g)
    else:
        CONSUMERS[consumer](g)


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_every_kind_through_every_consumer(kind, consumer):
    pytest.importorskip("lava") if consumer == "lava" else None
    run_consumer(kind, consumer)


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == set(kinds.KINDS)


def test_every_nir_type_is_in_the_table():
    nir_types = {c.__name__ for c in vars(nir).values() if isinstance(c, type) and issubclass(c, nir.NIRNode)}
    assert nir_types - set(kinds.KINDS) - set(NOT_IN_TABLE) == set()


def test_an_incomplete_kind_fails_the_coverage(monkeypatch):
    """A new linear kind registered without its arithmetic (a bare ``LinearOp``) does not pass."""
    class Doubler(nir.Scale):
        pass

    monkeypatch.setitem(kinds.KINDS, "Doubler", kinds.Kind("Doubler", kinds.SYNAPSE, kinds.LinearOp()))
    monkeypatch.setitem(EXAMPLES, "Doubler", lambda: (base(mid=[("d", Doubler(np.full(3 * H * W, 2.0)), None),
                                                                ("lif2", neuron("LIF", (3, H, W)), [3, H, W])]), "d"))
    with pytest.raises(NotImplementedError):
        run_consumer("Doubler", "reference")


def test_kind_table_refuses_a_malformed_kind():
    with pytest.raises(ValueError, match="needs LinearOp"):
        kinds.Kind("Foo", kinds.SYNAPSE)
    with pytest.raises(ValueError, match="unknown role"):
        kinds.Kind("Foo", "magic")
    with pytest.raises(ValueError, match="must say why"):
        kinds.Kind("Foo", kinds.FLOAT_ONLY)


@pytest.mark.parametrize("stride,pad,dil,groups", [(1, 1, 1, 1), (2, 0, 1, 1), (1, 2, 2, 2)])
def test_conv1d_arithmetic_equals_torch(stride, pad, dil, groups):
    """Conv1d's LinearOp (integer and float) against ``torch.nn.functional.conv1d``, and its shape rule."""
    w = RNG.integers(-8, 8, (4, 4 // groups, 3))
    node = nir.Conv1d(input_shape=9, weight=w, stride=stride, padding=pad, dilation=dil, groups=groups,
                      bias=RNG.integers(-5, 5, 4))
    x = RNG.integers(0, 4, (5, 4, 9))
    want = torch.nn.functional.conv1d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                      torch.from_numpy(node.bias).double(), stride, pad, dil, groups).numpy()
    op = kinds.KINDS["Conv1d"].op
    typed, out = op.typed("c", node, (4, 9))
    assert out == want.shape[1:]
    np.testing.assert_array_equal(op.apply("c", typed, x.reshape(5, -1)), want.reshape(5, -1))
    np.testing.assert_allclose(op.float_apply(typed, x.reshape(5, -1).astype(float)), want.reshape(5, -1))
    geo = op.geometry(node)  # the mapper sees (C, L) as (W, H, C) = (1, L, C): the window runs along H
    assert geo["kind"] == "conv" and geo["kernel"] == (1, 3) and geo["stride"] == (1, stride)
    assert geo["fan_in"] == (4 // groups) * 3



def test_neuron_constants_hand_worked():
    """Each neuron kind's NeuronOp against hand-worked numbers (dt = 1, docs/quantization.md)."""
    one = lambda v: np.full(2, float(v))
    lif = kinds.neuron_constants(nir.LIF(tau=one(2), r=one(2), v_leak=one(0.5), v_threshold=one(3), v_reset=one(0)), 1.0)
    assert (lif["gain"], lif["du"], lif["dv"], lif["leak"], lif["theta"]) == \
        pytest.approx((1.0, 4095, 2048, 0.25, 3.0))  # gain r dt / tau, no current memory, 4096 dt / tau
    cuba = kinds.neuron_constants(nir.CubaLIF(tau_syn=one(4), tau_mem=one(2), r=one(2), v_leak=one(0),
                                              v_threshold=one(1), v_reset=one(0), w_in=one(1)), 1.0)
    assert (cuba["gain"], cuba["du"], cuba["dv"]) == pytest.approx((0.25, 1023, 2048))  # w_in dt/tau_s r dt/tau_m
    relay = kinds.neuron_constants(nir.LI(tau=one(1), r=one(1), v_leak=one(0)), 1.0)
    assert relay["dv"] == pytest.approx(4096) and relay["theta"] is None  # tau = dt: v = this step's input
    iff = kinds.neuron_constants(nir.IF(r=one(1), v_threshold=one(1), v_reset=one(0)), 1.0)
    assert (iff["gain"], iff["dv"], iff["leak"]) == pytest.approx((1.0, 0.0, 0.0))
    keep_u, keep_v = kinds.KINDS["CubaLIF"].neuron.decays(
        nir.CubaLIF(tau_syn=one(4), tau_mem=one(2), r=one(2), v_leak=one(0), v_threshold=one(1), v_reset=one(0),
                    w_in=one(1)), 1.0, (2,))
    assert (keep_u, keep_v) == (pytest.approx(0.75), pytest.approx(0.5))
    with pytest.raises(ValueError, match="needs NeuronOp"):
        kinds.Kind("Foo", kinds.NEURON)
