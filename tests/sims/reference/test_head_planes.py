"""The reference executor reads a population through another shape with the same C-order values, as
Lava and the float executor do (SDSA's head planes, docs/nir-format.md): a ``Conv2d`` reads its input
as ``(C, *input_shape)``, a neuron node takes its summed input in its own shape. Oracles are loops over
the official neighbourhood (flat token ``n +- 1``, head channel ``d +- 1``), not the kernels' reshape."""

from __future__ import annotations

import itertools

import nir
import numpy as np
import pytest
import torch

from ds2ta.sims.reference.kernels import Conv2dK, LavaLIFK


def _plane_pool_conv(heads: int, hd: int, N: int) -> nir.Conv2d:
    """3x3 window sum of each head's (d, n) plane: weight ones (heads, 1, 3, 3), groups = heads."""
    return nir.Conv2d(input_shape=(hd, N), weight=np.ones((heads, 1, 3, 3)), stride=1, padding=1, dilation=1,
                      groups=heads, bias=np.zeros(heads))


def _loop_window_sums(x: np.ndarray, heads: int) -> np.ndarray:
    """x (S, D, g, g) -> (S, heads, hd, N): sum over d' = d-1..d+1 of the same head and n' = n-1..n+1."""
    S, D, g, _ = x.shape
    hd, N = D // heads, g * g
    out = np.zeros((S, heads, hd, N), np.int64)
    for s, h, d, n in itertools.product(range(S), range(heads), range(hd), range(N)):
        for dd, dn in itertools.product((-1, 0, 1), (-1, 0, 1)):
            d2, n2 = d + dd, n + dn
            if 0 <= d2 < hd and 0 <= n2 < N:
                out[s, h, d, n] += x[s, h * hd + d2, n2 // g, n2 % g]
    return out


@pytest.mark.parametrize("heads,D,g", [(1, 3, 3), (2, 8, 4), (4, 16, 3)])
def test_conv_reads_a_grid_population_through_its_input_shape(heads, D, g):
    rng = np.random.default_rng(heads * 10 + g)
    x = rng.integers(0, 2, (2, 3, D, g, g))  # (T, B, D, g, g) spikes
    k = Conv2dK("pool", _plane_pool_conv(heads, D // heads, g * g))
    y = k.forward(torch.from_numpy(x), {})
    assert tuple(y.shape) == (2, 3, heads, D // heads, g * g)
    want = _loop_window_sums(x.reshape(6, D, g, g), heads).reshape(2, 3, heads, D // heads, g * g)
    np.testing.assert_array_equal(y.numpy(), want)
    # synaptic events: each spike reaches every window that holds it (the loop's sum with weights 1)
    assert int(k.fanout(torch.from_numpy(x))) == int(want.sum())


def test_conv_names_an_input_that_does_not_split_into_its_planes():
    k = Conv2dK("blocks.0.attn.core.kv", _plane_pool_conv(2, 5, 9))  # 90 values per sample
    with pytest.raises(ValueError, match=r"blocks.0.attn.core.kv: 64 inputs per sample do not split.*5x9"):
        k.forward(torch.zeros(1, 1, 4, 4, 4, dtype=torch.long), {})


def _or_neuron(shape) -> nir.CubaLIF:
    """The memoryless OR population of an exported graph: du = dv = 4095, vth = 0 (spike iff sum >= 1)."""
    full = lambda v: np.full(shape, v)
    lava = {"du": full(4095), "dv": full(4095), "vth": full(0), "bias_mant": full(0), "bias_exp": full(0)}
    return nir.CubaLIF(tau_syn=full(1.0), tau_mem=full(1.0), r=full(1.0), v_leak=full(0.0), v_threshold=full(0.0),
                       v_reset=full(0.0), w_in=full(1.0), metadata={"lava": lava})


def test_neuron_takes_its_input_in_its_own_shape():
    heads, hd, g = 2, 4, 3
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 3, (2, 1, heads, hd, g * g)))  # plane sums
    k = LavaLIFK("pool.lif", _or_neuron((heads * hd, g, g)))
    s = k.forward(x, {})
    assert tuple(s.shape) == (2, 1, heads * hd, g, g)
    np.testing.assert_array_equal(s.numpy().reshape(-1), (x.numpy() >= 1).reshape(-1))
    o, _ = k.step(x[0], None, {})
    np.testing.assert_array_equal(o.numpy(), s[0].numpy())
