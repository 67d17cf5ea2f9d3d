"""LIF step against a hand-worked trajectory and the surrogate gradient against its formula."""

import numpy as np
import pytest
import torch

from ds2ta.neuron import LIF, LIFParams, LIFState, lif_multistep, lif_step


def test_lif_hand_worked_trajectory():
    # tau=2, v_th=1: h = 0.5 v + 0.5 x, spike when h >= 1, reset to 0. Worked by hand:
    # t0 h=0.5; t1 h=0.75; t2 h=0.875; t3 h=0.875+(0.4-0.875)/2=0.6375; t4 h=0.6375+(3-0.6375)/2=1.81875 -> spike
    x = torch.tensor([1.0, 1.0, 1.0, 0.4, 3.0, 0.0, 2.0])
    p = LIFParams(tau=2.0, v_threshold=1.0)
    state, spikes, vs = LIFState(torch.tensor(0.0)), [], []
    for t in range(len(x)):
        s, state = lif_step(x[t], state, p)
        spikes.append(float(s))
        vs.append(float(state.v))
    # t5: h = 0 + 0/2 = 0; t6: h = 0 + 2/2 = 1.0 -> spike (threshold is inclusive)
    np.testing.assert_array_equal(spikes, [0, 0, 0, 0, 1, 0, 1])
    np.testing.assert_allclose(vs, [0.5, 0.75, 0.875, 0.6375, 0.0, 0.0, 0.0], rtol=0, atol=1e-7)


def test_lif_tau_4_leak():
    # tau=4: h = 0.75 v + 0.25 x. x=2 constant: 0.5, 0.875, 1.15625 -> spike at t=2
    s = lif_multistep(torch.full((3, 1), 2.0), LIFParams(tau=4.0, v_threshold=1.0))
    np.testing.assert_array_equal(s[:, 0].numpy(), [0, 0, 1])


def test_surrogate_gradient_value():
    # ds/dx = alpha * sig(alpha (h - vth)) (1 - sig(...)) * dh/dx with dh/dx = 1/tau.
    # x = 2 -> h - vth = 0 -> 4 * 0.25 * 0.5 = 0.5
    x = torch.tensor([2.0], requires_grad=True)
    s, _ = lif_step(x, LIFState(torch.zeros(1)), LIFParams(tau=2.0, v_threshold=1.0, alpha=4.0))
    s.sum().backward()
    assert x.grad.item() == pytest.approx(0.5, abs=1e-7)


def test_detached_reset_blocks_gradient_through_reset():
    # Two steps; with detach_reset the gradient through v[0] = h0 (1 - s0) treats s0 as constant.
    for detach, expect_differs in ((True, False), (False, True)):
        x = torch.tensor([2.5, 1.0], requires_grad=True)
        p = LIFParams(tau=2.0, v_threshold=1.0, detach_reset=detach)
        st = LIFState(torch.zeros(()))
        s0, st = lif_step(x[0], st, p)
        s1, st = lif_step(x[1], st, p)
        (s1 + 0 * s0).backward()
        # s0 = 1 so v0 = 0; with detach, d v0 / d x0 = (1 - s0) * 0.5 = 0, hence no gradient to x0
        assert (x.grad[0].item() != 0.0) == expect_differs


def test_lif_module_multistep_shape_and_fresh_state():
    m = LIF()
    x = torch.rand(4, 2, 3) * 3
    a, b = m(x), m(x)
    assert a.shape == x.shape
    torch.testing.assert_close(a, b)  # state does not leak between calls
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=0.5)
