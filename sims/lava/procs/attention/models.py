"""numpy ProcessModel of SpikeAttentionCore (int64, exact; no torch: models run in forked processes)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.procs.attention.process import SpikeAttentionCore
from ds2ta.sims.lava.procs.ports import recv


def _shr(x: np.ndarray, shift: int) -> np.ndarray:
    return x >> shift if shift >= 0 else x << (-shift)


def spatial_attention(q, k, v, heads: int, table: np.ndarray, shift: int):
    """Flat (D*N,) binary q, k, v -> (out (D*N,) int64, spike x spike MACs)."""
    D = table.shape[0] * (table.shape[1] - 1)
    H, d = heads, D // heads
    Q, K, V = (np.asarray(z, np.int64).reshape(H, d, -1).transpose(0, 2, 1) for z in (q, k, v))  # (H, N, d)
    A = Q @ K.transpose(0, 2, 1)  # (H, N, N) integers 0..d
    S = table[np.arange(H)[:, None, None], A]
    out = _shr(S @ V, shift)  # (H, N, d)
    ops = int((Q.sum(1) * K.sum(1)).sum() + ((S != 0).astype(np.int64) @ V).sum())
    return out.transpose(0, 2, 1).reshape(-1), ops


def block_attention(qs, ks, vs, heads: int, tokens: int, shift: int):
    """Lists of ``chunk`` flat steps -> (list of out steps, MACs): out_b = shr(Q_b (K_b^T V_b), shift)."""
    c = len(qs)

    def blk(zs):  # c x (D*N,) -> (H, c*N, d), time-major inside the block
        return np.concatenate([np.asarray(z, np.int64).reshape(heads, -1, tokens).transpose(0, 2, 1)
                               for z in zs], axis=1)

    Qb, Kb, Vb = blk(qs), blk(ks), blk(vs)
    kv = Kb.transpose(0, 2, 1) @ Vb  # (H, d, d)
    out = _shr(Qb @ kv, shift)  # (H, c*N, d)
    ops = int(kv.sum() + (Qb @ (kv != 0).astype(np.int64)).sum())
    return [out[:, r * tokens:(r + 1) * tokens].transpose(0, 2, 1).reshape(-1) for r in range(c)], ops


@implements(proc=SpikeAttentionCore, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeAttentionCoreModel(PyLoihiProcessModel):
    """Sends the result due this step first, then receives and computes (synapse-like timing)."""

    q: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    k: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    v: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.heads, self.shift, self.mode, self.chunk = p["heads"], p["shift"], p["mode"], p["chunk"]
        self.table = np.asarray(p["table"], np.int64)
        self.period, self.depth, self.T, self.samples = p["period"], p["depth"], p["T"], p["samples"]
        self.tokens = p["tokens"]
        self.counters = np.memmap(p["counter_path"], dtype=np.int64, mode="r+", shape=(p["samples"],))
        self.pending = {}  # Lava step -> output vector
        self.block = []
        self.zero = np.zeros(p["shape"], dtype=np.int32)

    def run_spk(self):
        i = self.time_step - 1
        self.a_out.send(self.pending.pop(i, self.zero))
        q, k, v = recv(self.q), recv(self.k), recv(self.v)
        s, j = divmod(i - self.depth, self.period)
        if s < 0 or s >= self.samples or j >= self.T:
            return
        if self.mode == "spatial":
            out, ops = spatial_attention(q, k, v, self.heads, self.table, self.shift)
            self.pending[i + 1] = out.astype(np.int32)
        else:
            if j % self.chunk == 0:
                self.block = []
            self.block.append((q, k, v))
            if j % self.chunk != self.chunk - 1:
                return
            outs, ops = block_attention(*zip(*self.block), heads=self.heads, tokens=self.tokens,
                                        shift=self.shift)
            for r, o in enumerate(outs):
                self.pending[i + 1 + r] = o.astype(np.int32)
        self.counters[s] += ops
