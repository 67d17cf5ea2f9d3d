"""Integer kernels for the ds2ta extension nodes (spike x spike attention; docs/nir-format.md).

Operands are binary spikes (T, B, D, g, g); products run as float matrix products in the type
``kernels.float_dtype`` proves exact for their bound (float32 below 2^24, float64 below 2^53: ``N *
max|table|`` for ``S V``, asserted at build time), so every sum is an exactly held integer.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from ds2ta.hardware import attention_activity, attention_lowering
from ds2ta.sims.reference.kernels import EXACT_LIMIT, Kernel, float_dtype


def _heads(x: torch.Tensor, heads: int, dtype=torch.float64) -> torch.Tensor:
    """(T, B, D, g, g) -> (T, B, H, N, d) in ``dtype`` (token n = row * g + col, channel = h * d + j)."""
    T, B, D = x.shape[:3]
    return x.reshape(T, B, heads, D // heads, -1).transpose(-1, -2).to(dtype)


def _exact(bound: float, name: str, device):
    dtype = float_dtype(bound, device)
    if dtype is None:
        raise ValueError(f"node {name!r}: attention sums may reach {bound:.3g} >= 2^53; not exact in float64")
    return dtype


def _merge(y: torch.Tensor, shape) -> torch.Tensor:
    """(T, B, H, N, d) -> (T, B, D, g, g)."""
    T, B, H, N, d = y.shape
    return y.transpose(-1, -2).reshape(T, B, H * d, *shape)


def _shr(x: torch.Tensor, shift: int) -> torch.Tensor:
    return x >> shift if shift >= 0 else x << (-shift)


class _AttentionBase(Kernel):
    kind = "attention"
    reads_input = False  # the operands come from ``env`` by name

    def operands(self, env):
        try:
            return [env[n] for n in self.node.operands]
        except KeyError as e:
            raise ValueError(f"node {self.name!r}: operand {e.args[0]!r} is not a node output "
                             "computed before it") from None


class SpikeAttentionK(_AttentionBase):
    """``DS2TASpikeAttention``: A = Q K^T, S = table[h, A], out = shr(S V, shift), per step."""

    def __init__(self, name, node):
        super().__init__(name, node)
        tab = np.asarray(node.table)
        if not np.array_equal(tab, np.round(tab)):
            raise ValueError(f"node {name!r}: attention table is not integer; integerize the graph first")
        self.table = torch.from_numpy(tab.astype(np.int64))
        n = int(np.prod(node.tokens_shape))
        self.sv_bound = n * float(np.abs(tab).max(initial=0))  # |sum_j S_ij v_jc| for binary v
        if self.sv_bound >= EXACT_LIMIT:
            raise ValueError(f"node {name!r}: table too large for exact float64 sums")
        self._ops = (None, 0)  # (operands, their ops) of the last forward

    def to(self, device):
        self.table = self.table.to(device)
        return self

    def scores(self, q, k):
        """Integer scores A (T, B, H, N, N) and looked-up S (int64)."""
        H = self.node.heads
        d = self.node.channels // H
        dt = _exact(d, self.name, q.device)
        a = (_heads(q, H, dt) @ _heads(k, H, dt).transpose(-1, -2)).long()  # (T, B, H, N, N), exact
        lo, hi = torch.aminmax(a) if a.numel() else (0, 0)
        if int(lo) < 0 or int(hi) > d:
            raise ValueError(f"node {self.name!r}: q/k operands are not binary spikes")
        offs = (torch.arange(H, device=a.device) * (d + 1)).view(H, 1, 1)
        s = self.table.reshape(-1)[a + offs]
        return a, s

    def forward(self, x, env):
        q, k, v = self.operands(env)
        _, s = self.scores(q, k)
        dt = _exact(self.sv_bound, self.name, v.device)
        vh = _heads(v, self.node.heads, dt)
        out = (s.to(dt) @ vh).long()  # (T, B, H, N, d), exact
        self._ops = ((q, k, v), self._count(q, k, s, vh))
        return _merge(_shr(out, self.node.shift), self.node.tokens_shape)

    def _count(self, q, k, s, vh) -> int:
        H = self.node.heads
        qk = (_heads(q, H, torch.int64).sum(-2) * _heads(k, H, torch.int64).sum(-2)).sum()
        sv = ((s != 0).sum(-2) * vh.sum(-1).long()).sum()  # sum_j (sum_i [S_ij != 0]) |v_j|
        return int(qk + sv)

    def ops(self, env) -> int:
        """Spike x spike MACs: sum_{i,j,c} q_ic k_jc (QK^T) + sum_{i,j,c} [S_ij != 0] v_jc (SV); taken in
        ``forward`` (computed again for other operands)."""
        q, k, v = self.operands(env)
        seen, n = self._ops
        if seen is not None and all(a is b for a, b in zip(seen, (q, k, v))):
            return n
        _, s = self.scores(q, k)
        return self._count(q, k, s, _heads(v, self.node.heads, torch.int64))


class BlockAttentionK(_AttentionBase):
    """``DS2TABlockAttention`` (STAtten): out_b = shr(Q_b (K_b^T V_b), shift) over blocks of chunk steps."""

    def forward(self, x, env):
        q, k, v = self.operands(env)
        T, c, H = q.shape[0], self.node.chunk, self.node.heads
        if T % c:
            raise ValueError(f"node {self.name!r}: T={T} is not a multiple of chunk={c}")
        N = int(np.prod(self.node.tokens_shape))
        d = self.node.channels // H
        dt = _exact(c * N * d, self.name, q.device)  # |Q_b (K_b^T V_b)| <= d * c N for binary operands

        def blocks(z):  # (T, B, H, N, d) -> (T/c, B, H, c*N, d), time-major inside a block
            z = _heads(z, H, dt)
            _, B, _, N, d = z.shape
            return z.reshape(T // c, c, B, H, N, d).permute(0, 2, 3, 1, 4, 5).reshape(T // c, B, H, c * N, d)

        qb, kb, vb = blocks(q), blocks(k), blocks(v)
        kv = kb.transpose(-1, -2) @ vb  # (T/c, B, H, d, d)
        out = (qb @ kv).long()  # (T/c, B, H, c*N, d), exact
        # nonzero MACs: sum(K_b^T V_b) + sum_{i,c,e} q_ic [kv_ce != 0] = sum_c (sum_i q_ic)(sum_e [kv_ce != 0])
        self.last_ops = int(kv.long().sum() + (qb.sum(-2).long() * (kv != 0).sum(-1)).sum())
        _, B, _, cN, d = out.shape
        N = cN // c
        out = out.reshape(T // c, B, H, c, N, d).permute(0, 3, 1, 2, 4, 5).reshape(T, B, H, N, d)
        return _merge(_shr(out, self.node.shift), self.node.tokens_shape)

    @property
    def latency(self) -> int:
        """Pipeline steps on a chip: the core emits a block only after its ``chunk`` steps arrived."""
        return int(self.node.chunk)

    def step(self, x_t, state, env_t):
        raise ValueError(f"node {self.name!r}: block attention needs whole blocks; it cannot run in a "
                         "graph with recurrent edges")

    def ops(self, env) -> int:
        """Nonzero MACs of K_b^T V_b plus Q_b (K_b^T V_b) (computed in ``forward``)."""
        return getattr(self, "last_ops", 0)


class LoweredAttentionK(_AttentionBase):
    """Either attention node executed as its neuron lowering (``ds2ta.hardware.attention_lowering``).

    Every lowered population is counted (``unit_counts``). When the node is recorded (``record``, set by
    the executor) every population's output is computed (``attention_activity.values``; ``sub_records``,
    named ``"<node>.<suffix>"``), so a comparison with Lava checks each population, not only the output;
    otherwise only the ``out`` population and the messages per neuron are computed
    (``attention_activity.output_and_messages``: the same counts without the per-step arrays of the
    product populations). The node's own output is the ``out`` population (the same current as the core
    computes)."""

    def __init__(self, name, node):
        super().__init__(name, node)
        self.low = attention_lowering.plan(name, node)
        self.fanouts = [self.low.fanout(link) for link in self.low.links]
        self.sub_records: Dict[str, torch.Tensor] = {}
        self.unit_counts: Dict[str, dict] = {}

    @property
    def latency(self) -> int:
        """Pipeline steps from the operands to the output: the lowering's synapse stages."""
        return self.low.out_latency

    def forward(self, x, env):
        q, k, v = self.operands(env)
        T, B = q.shape[:2]
        z = [np.ascontiguousarray(o.reshape(T, B, self.node.channels, -1).cpu().numpy()) for o in (q, k, v)]
        if any(a.min(initial=0) < 0 or a.max(initial=0) > 1 for a in z):
            raise ValueError(f"node {self.name!r}: q/k/v operands are not binary spikes")
        if self.record:
            vals = attention_activity.values(self.low, *z)
            msgs = attention_activity.messages({**vals, **dict(zip("qkv", z))}, T, B)
            self.sub_records = {f"{self.name}.{u.suffix}": torch.from_numpy(vals[u.suffix].reshape(T, B, -1))
                                for u in self.low.units if u.suffix != "out"}
            out = vals["out"]
        else:
            out, msgs = attention_activity.output_and_messages(self.low, *z)
            self.sub_records = {}
        self.unit_counts = attention_activity.counts_from_messages(self.low, msgs, T, B, self.fanouts)
        return torch.from_numpy(out).to(q.device).reshape(T, B, self.node.channels, *self.node.tokens_shape)

    def step(self, x_t, state, env_t):
        raise ValueError(f"node {self.name!r}: the lowered attention runs on whole sequences; it cannot "
                         "run in a graph with recurrent edges (use attention lowering 'core')")

    def ops(self, env) -> int:
        """No opaque core operations: the work is counted per lowered population."""
        return 0


ATTENTION_KERNELS = {"DS2TASpikeAttention": SpikeAttentionK, "DS2TABlockAttention": BlockAttentionK}
LOWERED_KERNELS = {"DS2TASpikeAttention": LoweredAttentionK, "DS2TABlockAttention": LoweredAttentionK}


def attention_kernels(lowering: str) -> Dict[str, type]:
    """Kernel table for ``--attention-lowering neurons|core``."""
    if lowering not in attention_lowering.LOWERINGS:
        raise ValueError(f"attention lowering {lowering!r}: choose one of {attention_lowering.LOWERINGS}")
    return LOWERED_KERNELS if lowering == "neurons" else ATTENTION_KERNELS
