"""Dispatch tables NIR node -> Lava Process(es).

``POPULATION_BUILDERS``: node type name -> builder of the population's Process (a neuron, the input
source, a read-out, a graded unit, an attention core). ``SYNAPSE_BUILDERS``: type of a projection's single
linear node -> builder of its synapse Process (lava-nc ``Dense`` / ``Conv``; ``Sparse`` for a conv with a
weight exponent); a chain of several linear nodes is composed into one ``Dense``. Unknown types raise
``ValueError`` naming them. Any other linear kind (``ds2ta.hardware.kinds``) is composed by its
``LinearOp`` into a ``Dense``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import nir
import numpy as np
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.graded.process import GradedReluVec, GradedVec
from lava.proc.lif.process import LIFReset
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights

from ds2ta.hardware import chip
from ds2ta.sims.lava.graph import Population, Projection
from ds2ta.sims.lava.ops import _integer, _pair, compose, input_shape
from ds2ta.sims.lava.procs.io.process import BiasSource
from ds2ta.sims.lava.procs.lif.process import PerNeuronLIF
from ds2ta.sims.lava.procs.readout.process import Readout
from ds2ta.sims.lava.procs.sigma_delta.process import SigmaDeltaUnit
from ds2ta.sims.lava.sparse_conv import build_sparse_conv



@dataclass
class BuildContext:
    """What a builder needs besides its node: period, T, scratch files; ``helpers`` collects the extra
    processes builders connect themselves (bias sources), so the network can count them."""

    T: int
    period: int
    workdir: str
    samples: int
    helpers: list = field(default_factory=list)


def lava_neuron(name: str, node: nir.NIRNode) -> dict:
    """The integer Lava parameters of a neuron node (``metadata["lava"]``, docs/nir-format.md)."""
    t = type(node).__name__
    if t == chip.THRESHOLD:
        return chip.threshold_params(node.threshold)
    lava = node.metadata.get("lava") if isinstance(node.metadata, dict) else None
    if not lava:
        raise ValueError(f"node {name!r} ({t}) has no integer parameters (metadata['lava']); integerize "
                         "the graph first (ds2ta.export) or export it with ds2ta-export")
    return {k: np.asarray(lava.get(k, 0)).astype(np.int64).reshape(-1) for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}


def _scalar(a: np.ndarray, what: str, name: str) -> int:
    u = np.unique(a)
    if u.size != 1:
        raise ValueError(f"node {name!r}: per-neuron {what} differs across neurons; Lava's LIF takes "
                         f"one {what} per population")
    return int(u[0])


def check_reset(pop: Population) -> None:
    """Lava's LIF resets ``v`` to 0: a NIR neuron with ``v_reset != 0`` cannot be mapped exactly."""
    r = getattr(pop.node, "v_reset", None)
    if r is not None and np.any(np.asarray(r, dtype=np.float64) != 0):
        raise ValueError(f"node {pop.name!r} ({type(pop.node).__name__}) has v_reset != 0 "
                         f"(e.g. {float(np.asarray(r).reshape(-1)[np.flatnonzero(np.asarray(r))[0]])}); Lava's "
                         "LIF resets v to 0. Write the graph with v_reset = 0 (shift v_threshold and v_leak "
                         "by -v_reset) before running it in Lava")


def bias_table(pop: Population, T: int) -> np.ndarray | None:
    """``(T, n)`` synapse bias per sample step (synaptic units) from ``pop.biases``; None without any."""
    if not pop.biases:
        return None
    table = np.zeros((T, pop.size), dtype=np.int64)
    for start, vec in pop.biases:
        table[start:] += np.asarray(vec, dtype=np.int64).reshape(-1)
    return table


def _foldable(table: np.ndarray | None, du: int) -> bool:
    """A synapse bias equals a constant ``v`` bias ``b << 6`` only without current memory and when
    it is present from step 0 on (``u = a << 6`` each step when ``du = 4095``)."""
    return table is None or (du == chip.NO_CURRENT_MEMORY and bool(np.all(table == table[:1])))


def attach_bias(proc, pop: Population, ctx: BuildContext, table: np.ndarray) -> BiasSource:
    """Connect a ``BiasSource`` sending ``table[t]`` into ``proc.a_in`` at the population's step t."""
    if np.abs(table).max() >= 2 ** 15:
        raise ValueError(f"node {pop.name!r}: synapse bias {int(np.abs(table).max())} exceeds Lava's int16 "
                         "synaptic input a_in; scale the weights and biases down")
    src = BiasSource(table=table[:, :].astype(np.int32), period=ctx.period, depth=pop.depth,
                     name=f"{pop.name}.bias")
    src.a_out.connect(proc.a_in)
    ctx.helpers.append(src)
    return src


def build_neuron(pop: Population, ctx: BuildContext):
    """Spiking neuron -> ``LIFReset`` (Lava fixed point), reset at the population's window start.

    A synapse bias goes into the LIF bias (``b << 6``) when that is exact (``du = 4095``, present from
    step 0, representable as ``bias_mant << bias_exp``); otherwise a ``BiasSource`` adds it to ``a_in``.
    """
    check_reset(pop)
    p = lava_neuron(pop.name, pop.node)
    bias = np.broadcast_to(chip.bias_decode(p["bias_mant"], p["bias_exp"]), (pop.size,)).astype(np.int64)
    table = bias_table(pop, ctx.T)
    if np.unique(p["du"]).size > 1 or np.unique(p["dv"]).size > 1:  # lava-nc's LIF: one decay per population
        du = np.broadcast_to(p["du"], (pop.size,))
        if table is not None and np.all(du == chip.NO_CURRENT_MEMORY) and np.all(table == table[:1]):
            bias, table = bias + (table[0] << chip.ACT_SHIFT), None
        lif = PerNeuronLIF(shape=(pop.size,), du=p["du"], dv=p["dv"], vth=p["vth"], bias=bias,
                           period=ctx.period, depth=pop.depth, name=pop.name)
        if table is not None:
            attach_bias(lif, pop, ctx, table)
        return lif
    du, dv = _scalar(p["du"], "du", pop.name), _scalar(p["dv"], "dv", pop.name)
    mant_exp = None
    if table is not None and _foldable(table, du):
        try:
            mant_exp = chip.bias_encode(bias + (table[0] << chip.ACT_SHIFT), exact=True, name=f"node {pop.name!r}")
            table = None
        except ValueError:  # not mant << exp: send it as synaptic input instead
            pass
    if mant_exp is None:
        mant_exp = chip.bias_encode(bias, exact=True, name=f"node {pop.name!r}")
    vth = np.broadcast_to(p["vth"], (pop.size,)).astype(np.int64)
    if np.unique(vth).size == 1:
        vth = int(vth[0])
    lif = LIFReset(shape=(pop.size,), du=du, dv=dv, vth=vth, bias_mant=mant_exp[0], bias_exp=mant_exp[1],
                   reset_interval=ctx.period, reset_offset=(pop.depth + 1) % ctx.period, name=pop.name)
    if table is not None:
        attach_bias(lif, pop, ctx, table)
    return lif


def build_readout(pop: Population, ctx: BuildContext):
    """Non-spiking neuron (I, LI, CubaLI) -> ``Readout`` reporting ``v`` each step."""
    p = lava_neuron(pop.name, pop.node)
    bias = np.broadcast_to(chip.bias_decode(p["bias_mant"], p["bias_exp"]), (pop.size,)).astype(np.int64)
    du, dv = (p[k] if np.unique(p[k]).size > 1 else int(p[k][0]) for k in ("du", "dv"))  # numpy: per neuron ok
    table = bias_table(pop, ctx.T)
    if table is not None and np.all(np.asarray(du) == chip.NO_CURRENT_MEMORY) and np.all(table == table[:1]):
        bias, table = bias + (table[0] << chip.ACT_SHIFT), None
    ro = Readout(shape=(pop.size,), du=du, dv=dv, bias=bias,
                 period=ctx.period, depth=pop.depth, name=pop.name)
    if table is not None:
        attach_bias(ro, pop, ctx, table)
    return ro


def build_graded_unit(pop: Population, ctx: BuildContext):
    """``DS2TAGraded`` -> lava-nc ``GradedReluVec(vth=0)`` (relu) or ``GradedVec(vth=0)``: memoryless,
    it sends its summed input ``v`` (where ``v > 0``, resp. ``v != 0``) as a 24-bit graded message, as
    ``chip.graded_unit``; no state, so nothing to reset between samples. A synapse bias arrives through
    a ``BiasSource``."""
    proc = (GradedReluVec if pop.node.relu else GradedVec)(shape=(pop.size,), vth=0)  # takes no name
    table = bias_table(pop, ctx.T)
    if table is not None:
        attach_bias(proc, pop, ctx, table)
    return proc


def build_sigma_delta(pop: Population, ctx: BuildContext):
    """``DS2TASigmaDelta`` -> ``SigmaDeltaUnit`` (``hardware.sigma_delta``'s dynamics, reset at the population's
    window start); it sends graded messages, so the synapses it feeds take 24-bit payloads. A synapse bias
    arrives through a ``BiasSource`` (added to ``a_in`` every step, as the reference adds it to the input)."""
    n = pop.node
    flat = lambda a: np.asarray(a, dtype=np.int64).reshape(-1)
    proc = SigmaDeltaUnit(shape=(pop.size,), mode=n.mode, relu=n.relu, vth=flat(n.vth), bias=flat(n.bias),
                          spike_exp=n.spike_exp, state_exp=n.state_exp, period=ctx.period, depth=pop.depth,
                          name=pop.name)
    table = bias_table(pop, ctx.T)
    if table is not None:
        attach_bias(proc, pop, ctx, table)
    return proc


POPULATION_BUILDERS: dict[str, Callable] = {
    **{t: build_neuron for t in chip.SPIKE_SOURCES},
    **{t: build_readout for t in chip.GRADED_NEURONS},
    **{t: build_graded_unit for t in chip.GRADED_UNITS},
    **{t: build_sigma_delta for t in chip.SIGMA_DELTAS},
}


def is_spiking(pop: Population) -> bool:
    """Binary spikes (True) or a graded value (input, read-out, attention current)."""
    return pop.kind == "neuron" and type(pop.node).__name__ in chip.SPIKE_SOURCES


# -- synapses -----------------------------------------------------------------------------------
def lava_dense_weights(w: np.ndarray, name: str) -> np.ndarray:
    """Check Lava's Dense encoding keeps ``w`` exactly (8-bit clip, mixed-sign LSB truncation)."""
    mode = determine_sign_mode(w)
    kept = truncate_weights(clip_weights(w.copy(), mode, num_bits=8), mode, 8)
    if not np.array_equal(kept, w):
        bad = np.flatnonzero(kept.ravel() != w.ravel())
        raise ValueError(f"synapse {name!r}: Lava's 8-bit Dense encoding changes {bad.size} weight(s) "
                         f"(e.g. {int(w.ravel()[bad[0]])} -> {int(kept.ravel()[bad[0]])}); quantize to "
                         "even values in [-256, 254] (mixed sign) or [0, 255] / [-255, 0]")
    return w


def dense_from_matrix(w: np.ndarray, name: str, graded: bool, weight_exp: int = 0) -> Dense:
    """lava-nc ``Dense`` (binary input, or graded payload with ``num_message_bits=24``)."""
    w = lava_dense_weights(np.asarray(w, dtype=np.int64), name)
    return Dense(weights=w, weight_exp=weight_exp, num_message_bits=24 if graded else 0, name=name)


def build_affine(proj: Projection, n_in: int, graded: bool):
    name, node = proj.ops[0]
    exp = int(np.asarray(node.metadata.get("weight_exp", 0))) if isinstance(node.metadata, dict) else 0
    w = _integer(node.weight, f"{name}.weight").reshape(-1, n_in)
    return dense_from_matrix(w, name, graded, exp), None, None


def build_conv(proj: Projection, n_in: int, graded: bool):
    """``Conv2d`` -> lava-nc ``Conv`` in Lava's layout: input (W, H, C), kernel flipped; a conv with a
    ``metadata["weight_exp"]`` (which ``Conv`` ignores) -> a ``Sparse`` with that exponent
    (``sparse_conv.py``), wired flat."""
    name, node = proj.ops[0]
    w = _integer(node.weight, f"{name}.weight")
    H, W = _pair(node.input_shape)
    C = n_in // (H * W)
    if isinstance(node.padding, str):
        raise ValueError(f"{name}: string padding {node.padding!r} is not supported; write integers")
    if chip.weight_exp(node):
        return build_sparse_conv(name, node, (C, H, W), graded), None, None
    w_lava = w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
    w_lava = w_lava.astype(np.int16 if np.abs(w).max(initial=0) < 2 ** 15 else np.int64)  # a compact copy:
    # the parent holds every conv's weights while Lava forks (cifar10: 9.3 M, 112 MB in int64)
    xy = lambda v: tuple(reversed(_pair(v)))  # (H, W) -> Lava's (X=W, Y=H)
    conv = Conv(weight=w_lava, input_shape=(W, H, C), padding=xy(node.padding), stride=xy(node.stride),
                dilation=xy(node.dilation), groups=int(node.groups), num_message_bits=24 if graded else 0,
                name=name)
    return conv, (C, H, W), conv.output_shape


def build_sumpool(proj: Projection, n_in: int, graded: bool):
    """``SumPool2d`` -> lava-nc ``Conv`` with a depthwise kernel of ones (groups = C)."""
    name, node = proj.ops[0]
    try:
        C, H, W = input_shape(node)
    except (TypeError, ValueError, StopIteration):  # untyped node: take the source population's shape
        C, H, W = proj.src_shape
    kh, kw = _pair(node.kernel_size)
    xy = lambda v: tuple(reversed(_pair(v)))
    conv = Conv(weight=np.ones((C, kw, kh, 1), dtype=np.int64), input_shape=(W, H, C),
                padding=xy(node.padding), stride=xy(node.stride), groups=C,
                num_message_bits=24 if graded else 0, name=name)
    return conv, (C, H, W), conv.output_shape


SYNAPSE_BUILDERS: dict[type, Callable] = {
    nir.Affine: build_affine, nir.Linear: build_affine, nir.Conv2d: build_conv, nir.SumPool2d: build_sumpool,
}


def shared_fan_in_key(proj: Projection, src: Population):
    """Projections with the same key share one synapse Process: the same single synapse node (same
    weights) into the same destination port, each from a spike source. Their (aligned) spikes are
    summed at the Process's input and the node applied once, ``W (a + b)``, as NIR and the reference
    define a node with several input edges; one Process instead of one per source (the residual stream
    of a paper-scale model feeds each projection from up to 10 populations). ``None``: not shareable."""
    if len(proj.ops) != 1 or proj.recurrent or not is_spiking(src):
        return None
    name, node = proj.ops[0]
    if type(node) not in SYNAPSE_BUILDERS:
        return None
    return (proj.dst, proj.port, name)


def build_synapse(proj: Projection, n_in: int, n_out: int, graded: bool):
    """Synapse Process for a projection: ``(process, in_shape_chw or None, out_shape_lava or None)``.

    A single node uses its table entry; no node (direct neuron -> neuron edge) is an identity
    ``Dense``; several nodes are composed into one ``Dense`` (exact integers, checked for 8-bit loss).
    """
    ops = proj.ops
    if len(ops) == 1 and type(ops[0][1]) in SYNAPSE_BUILDERS:
        return SYNAPSE_BUILDERS[type(ops[0][1])](proj, n_in, graded)
    if not ops:
        return dense_from_matrix(np.eye(n_out, n_in, dtype=np.int64), f"{proj.src}->{proj.dst}", graded), \
            None, None
    if any(chip.weight_exp(n) for _, n in ops):
        raise ValueError(f"projection {proj.src}->{proj.dst}: weight_exp inside a chain is not supported")
    w, _ = compose(ops, n_in)  # exact; biases are Population.biases (graph.py)
    return dense_from_matrix(w, "+".join(n for n, _ in ops), graded), None, None
