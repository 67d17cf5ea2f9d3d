"""Integer kernels for the ds2ta extension nodes (spike x spike attention; docs/nir-format.md).

Operands are binary spikes (T, B, D, g, g); products are exact in float64 as long as
``N * d * max|table| < 2^53`` (asserted), far beyond any real size.
"""

from __future__ import annotations

import numpy as np
import torch

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


ATTENTION_KERNELS = {"DS2TASpikeAttention": SpikeAttentionK, "DS2TABlockAttention": BlockAttentionK}
