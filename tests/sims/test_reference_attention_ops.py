"""Attention-core operation counts and outputs against a case worked by hand (not against the Lava
core's copy of the rule): one head, d = 2, two tokens, one step.

    q0 = [1, 1], q1 = [1, 0];  k0 = [1, 0], k1 = [0, 0];  v0 = [1, 1], v1 = [0, 1]

Spatial (identity NSAD table): A = Q K^T = [[1, 0], [1, 0]].
  QK^T MACs = sum_c (sum_i q_ic)(sum_j k_jc) = 2*1 + 1*0 = 2;
  SV MACs   = sum_ij [A_ij != 0] |v_j| = |v0| + |v0| = 4;   ops = 6;   out = A V = [[1, 1], [1, 1]].
Block (STAtten, chunk 1): K^T V = [[1, 1], [0, 0]] from 2 nonzero products;
  Q (K^T V) touches the nonzero entries of K^T V: row q0 -> 2, row q1 -> 2;   ops = 2 + 4 = 6;
  out = [[1, 1], [1, 1]].
"""

from __future__ import annotations

import numpy as np
import torch

from ds2ta.export.nir_nodes import DS2TABlockAttention, DS2TASpikeAttention
from ds2ta.sims.reference.attention import ATTENTION_KERNELS

Q = [[1, 1], [1, 0]]
K = [[1, 0], [0, 0]]
V = [[1, 1], [0, 1]]


def _operand(tokens_by_channel):
    """(tokens, d) rows -> (T=1, B=1, D=2, 1, N=2) in the exporter's channel-first token layout."""
    a = torch.tensor(tokens_by_channel, dtype=torch.long).T  # (d, N)
    return a.reshape(1, 1, 2, 1, 2).to(torch.uint8)


def _kernel(node):
    return ATTENTION_KERNELS[type(node).__name__]("core", node)


def test_spatial_attention_ops_and_output_by_hand():
    node = DS2TASpikeAttention(channels=2, heads=1, tokens_shape=(1, 2), table=np.array([[0, 1, 2]]),
                               operands=["q", "k", "v"])
    k = _kernel(node)
    env = {"q": _operand(Q), "k": _operand(K), "v": _operand(V)}
    out = k.forward(None, env)
    assert k.ops(env) == 6
    assert out.reshape(2, 2).T.tolist() == [[1, 1], [1, 1]]  # (N, d)


def test_block_attention_ops_and_output_by_hand():
    node = DS2TABlockAttention(channels=2, heads=1, tokens_shape=(1, 2), chunk=1, operands=["q", "k", "v"])
    k = _kernel(node)
    env = {"q": _operand(Q), "k": _operand(K), "v": _operand(V)}
    out = k.forward(None, env)
    assert k.ops(env) == 6
    assert out.reshape(2, 2).T.tolist() == [[1, 1], [1, 1]]
