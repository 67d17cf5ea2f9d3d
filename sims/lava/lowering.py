"""An attention extension node as lava-nc library processes (``ds2ta.hardware.attention_lowering``).

Every population of the lowering becomes a lava-nc process with its own fixed-point model —
``ProdNeuron`` (``v = (a_in1 a_in2) >> exp``), ``GradedVec`` (``v = a_in``, sent when nonzero),
``LIFReset`` (threshold units: reset every step; oscillators: reset at the sample window) — and every
link a ``Sparse`` (``DelaySparse`` when it carries a delay) with 8-bit weights, graded
(``num_message_bits = 24``) when its source sends graded values. A link whose weights have both signs
and an odd value is split into an excitatory and an inhibitory process (lava-nc's mixed-sign
encoding drops the weight's LSB). No process of this package computes any part of the attention.
"""

from __future__ import annotations

import numpy as np
from lava.proc.graded.process import GradedVec
from lava.proc.lif.process import LIFReset
from lava.proc.prodneuron.process import ProdNeuron
from lava.proc.sparse.process import DelaySparse, Sparse
from scipy.sparse import csr_matrix

from ds2ta.hardware import attention_lowering as al
from ds2ta.hardware.attention_lowering import Link, Lowering, Unit
from ds2ta.sims.lava.procs.fast import fast_models

GRADED_BITS = 24  # graded message payload (lava-nc's 24-bit graded spikes)


def _unit_process(unit: Unit, depth: int, period: int, name: str):
    n = (unit.size,)
    if unit.process == "ProdNeuron":
        return ProdNeuron(shape=n, vth=0, exp=unit.exp)
    if unit.process == "GradedVec":
        return GradedVec(shape=n, vth=0)
    p = unit.params
    interval = 1 if p["period"] == 1 else period
    offset = 0 if interval == 1 else (depth + 1) % period  # window start, as every LIFReset here
    return LIFReset(shape=n, du=0, dv=0, vth=int(p["vth"]), bias_mant=np.asarray(p["bias_mant"]).reshape(n),
                    bias_exp=0, reset_interval=interval, reset_offset=offset, name=name)


def _sign_parts(link: Link) -> list:
    """The link's weights as one-signed parts when mixed-sign encoding would change an odd weight."""
    w = link.weights
    if (w > 0).any() and (w < 0).any() and np.any(w % 2):
        return [w > 0, w < 0]
    return [np.ones(w.shape, bool)]


def _synapses(link: Link, n_dst: int, n_src: int, graded: bool, name: str) -> list:
    procs = []
    for i, keep in enumerate(_sign_parts(link)):
        w = csr_matrix((link.weights[keep], (link.rows[keep], link.cols[keep])), shape=(n_dst, n_src))
        bits = GRADED_BITS if graded else 0
        nm = f"{name}.{i}" if i else name
        if link.delay:  # one delay per stored synapse, as a matrix: lava-nc's builder expands an int
            # ``delays`` into a dense (n_dst x n_src) assignment
            dl = csr_matrix((np.full(int(keep.sum()), link.delay), (link.rows[keep], link.cols[keep])),
                            shape=(n_dst, n_src))
            procs.append(DelaySparse(weights=w, delays=dl, num_message_bits=bits, name=nm))
        else:
            procs.append(Sparse(weights=w, num_message_bits=bits, name=nm))
    return procs


class LoweredAttention:
    """The lava-nc processes of one lowered attention node.

    Attributes:
        low: the ``Lowering``.  a_out: the output population's port (the attention current).
        units: ``{"<node>.<suffix>": (OutPort, size, depth, spiking)}`` of every population but the
            output, for the recorder (``depth``: Lava step within a period of its step 0).
        processes: every process built (populations and synapses).
        models: ProcessModels to use instead of lava-nc's default: the same arithmetic, faster
            (event-driven synapses, fewer passes per neuron step; ``procs/fast.py``).
    """

    def __init__(self, name: str, low: Lowering, depth: int, period: int):
        self.name, self.low = name, low
        self.procs = {u.suffix: _unit_process(u, depth + u.stage, period, f"{name}.{u.suffix}")
                      for u in low.units}
        self.a_out = self.procs["out"].s_out
        self.units = {f"{name}.{u.suffix}": (self.procs[u.suffix].s_out, u.size, depth + u.stage, u.spiking)
                      for u in low.units if u.suffix != "out"}
        self._operand_links = {op: [] for op in al.OPERANDS}
        self.processes = list(self.procs.values())
        for k, link in enumerate(low.links):
            src_spiking = link.src in al.OPERANDS or low.unit(link.src).spiking
            n_src = low.operand_size if link.src in al.OPERANDS else low.unit(link.src).size
            syns = _synapses(link, low.unit(link.dst).size, n_src, not src_spiking,
                             f"{name}.{link.src}->{link.dst}.{k}")
            for syn in syns:
                syn.a_out.connect(getattr(self.procs[link.dst], link.port))
                if link.src in al.OPERANDS:
                    self._operand_links[link.src].append(syn)
                else:
                    self.procs[link.src].s_out.connect(syn.s_in)
            self.processes += syns
        self.models = fast_models(self.processes)

    def connect_operand(self, port: str, out_port) -> None:
        """Connect the source of operand ``port`` (``"q"``, ``"k"`` or ``"v"``) to its synapses."""
        if port not in self._operand_links:
            raise ValueError(f"attention {self.name!r} has operands {list(al.OPERANDS)}, not {port!r}")
        for syn in self._operand_links[port]:
            out_port.connect(syn.s_in)
