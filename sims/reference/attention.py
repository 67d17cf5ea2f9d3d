"""Integer kernels for the ds2ta extension nodes (spike x spike attention; docs/nir-format.md).

Operands are binary spikes (T, B, D, g, g); products are exact in float64 as long as
``N * d * max|table| < 2^53`` (asserted), far beyond any real size.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from ds2ta.hardware import attention_activity, attention_lowering
from ds2ta.sims.reference.kernels import EXACT_LIMIT, Kernel


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(T, B, D, g, g) -> (T, B, H, N, d) float64 (token n = row * g + col, channel = h * d + j)."""
    T, B, D = x.shape[:3]
    return x.reshape(T, B, heads, D // heads, -1).transpose(-1, -2).double()


def _merge(y: torch.Tensor, shape) -> torch.Tensor:
    """(T, B, H, N, d) -> (T, B, D, g, g)."""
    T, B, H, N, d = y.shape
    return y.transpose(-1, -2).reshape(T, B, H * d, *shape)


def _shr(x: torch.Tensor, shift: int) -> torch.Tensor:
    return x >> shift if shift >= 0 else x << (-shift)


class _AttentionBase(Kernel):
    kind = "attention"

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
        if n * float(np.abs(tab).max(initial=0)) >= EXACT_LIMIT:
            raise ValueError(f"node {name!r}: table too large for exact float64 sums")

    def to(self, device):
        self.table = self.table.to(device)
        return self

    def scores(self, q, k):
        """Integer scores A (T, B, H, N, N) and looked-up S (int64)."""
        H = self.node.heads
        a = (_heads(q, H) @ _heads(k, H).transpose(-1, -2)).round().long()  # (T, B, H, N, N)
        d = self.node.channels // H
        if a.min() < 0 or a.max() > d:
            raise ValueError(f"node {self.name!r}: q/k operands are not binary spikes")
        offs = (torch.arange(H, device=a.device) * (d + 1)).view(H, 1, 1)
        s = self.table.reshape(-1)[a + offs]
        return a, s

    def forward(self, x, env):
        q, k, v = self.operands(env)
        _, s = self.scores(q, k)
        out = (s.double() @ _heads(v, self.node.heads)).round().long()  # (T, B, H, N, d)
        return _merge(_shr(out, self.node.shift), self.node.tokens_shape)

    def ops(self, env) -> int:
        """Spike x spike MACs: sum_{i,j,c} q_ic k_jc (QK^T) + sum_{i,j,c} [S_ij != 0] v_jc (SV)."""
        q, k, v = self.operands(env)
        H = self.node.heads
        qh, kh, vh = _heads(q, H), _heads(k, H), _heads(v, H)
        qk = (qh.sum(-2) * kh.sum(-2)).sum()
        _, s = self.scores(q, k)
        sv = ((s != 0).double() @ vh).sum()
        return int(qk + sv)


class BlockAttentionK(_AttentionBase):
    """``DS2TABlockAttention`` (STAtten): out_b = shr(Q_b (K_b^T V_b), shift) over blocks of chunk steps."""

    def forward(self, x, env):
        q, k, v = self.operands(env)
        T, c, H = q.shape[0], self.node.chunk, self.node.heads
        if T % c:
            raise ValueError(f"node {self.name!r}: T={T} is not a multiple of chunk={c}")

        def blocks(z):  # (T, B, H, N, d) -> (T/c, B, H, c*N, d), time-major inside a block
            z = _heads(z, H)
            _, B, _, N, d = z.shape
            return z.reshape(T // c, c, B, H, N, d).permute(0, 2, 3, 1, 4, 5).reshape(T // c, B, H, c * N, d)

        qb, kb, vb = blocks(q), blocks(k), blocks(v)
        kv = kb.transpose(-1, -2) @ vb  # (T/c, B, H, d, d)
        out = (qb @ kv).round().long()  # (T/c, B, H, c*N, d)
        self.last_ops = int(kv.sum() + (qb @ (kv != 0).double()).sum())
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
    """Either attention node executed as its neuron lowering (``ds2ta.hardware.attention_lowering``):
    every lowered population's output is computed (``sub_records``, named ``"<node>.<suffix>"``) and
    counted (``unit_counts``), so a comparison with Lava checks each population, not only the output.
    The node's own output is the ``out`` population (the same current as the core computes)."""

    def __init__(self, name, node):
        super().__init__(name, node)
        self.low = attention_lowering.plan(name, node)
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
        vals = attention_activity.values(self.low, *z)
        self.unit_counts = attention_activity.unit_counts(self.low, {**vals, **dict(zip("qkv", z))})
        self.sub_records = {f"{self.name}.{u.suffix}": torch.from_numpy(vals[u.suffix].reshape(T, B, -1))
                            for u in self.low.units if u.suffix != "out"}
        return torch.from_numpy(vals["out"]).to(q.device).reshape(T, B, self.node.channels, *self.node.tokens_shape)

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
