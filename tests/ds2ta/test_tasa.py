"""TASA against an explicit loop over TAW separately weighted copies of W on delayed inputs."""

import math

import numpy as np
import pytest
import torch

from ds2ta.tasa import SpikingProjection, temporal_filter


def _randomise_bn(bn, gen):
    bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
    bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
    bn.weight.data.copy_(torch.randn(bn.num_features, generator=gen))
    bn.bias.data.copy_(torch.randn(bn.num_features, generator=gen))


@pytest.mark.parametrize("form,taw,T", [("exp", 3, 5), ("exp", 2, 4), ("hyperbolic", 3, 6), ("exp", 4, 2)])
def test_tasa_equals_explicit_replica_loop(form, taw, T):
    gen = torch.Generator().manual_seed(0)
    proj = SpikingProjection(5, 3, taw=taw, tau_init=4.0, form=form).eval()
    _randomise_bn(proj.bn, gen)
    with torch.no_grad():
        proj.rho.fill_(math.log(math.expm1(2.5)))  # tau = 2.5
    x = (torch.rand(T, 2, 4, 5, generator=gen) > 0.5).float()  # (T, B, N, D_in) spikes
    got = proj.preactivation(x).detach().numpy()

    W = proj.linear.weight.detach().numpy().astype(np.float64)
    bn = proj.bn
    g, b = bn.weight.detach().numpy(), bn.bias.detach().numpy()
    mu, var = bn.running_mean.numpy(), bn.running_var.numpy()
    tau = 2.5
    a = [math.exp(-k / tau) if form == "exp" else 1.0 / (1.0 + k / tau) for k in range(taw)]
    xn = x.numpy().astype(np.float64)
    want = np.zeros((T, 2, 4, 3))
    for t in range(T):
        u = np.zeros((2, 4, 3))
        for k in range(min(t, taw - 1) + 1):  # one separately weighted copy a_k * W per delay k
            u += xn[t - k] @ (a[k] * W).T
        want[t] = (u - mu) / np.sqrt(var + bn.eps) * g + b
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_taw1_has_no_tau_and_is_plain_linear():
    proj = SpikingProjection(4, 4, taw=1).eval()
    assert not hasattr(proj, "rho")
    x = torch.rand(3, 1, 2, 4)
    want = proj.bn(proj.linear(x).flatten(0, 2)).reshape(3, 1, 2, 4)
    torch.testing.assert_close(proj.preactivation(x), want, rtol=0, atol=0)


def test_tau_positive_init_and_gets_gradient():
    proj = SpikingProjection(6, 6, taw=3, tau_init=4.0)
    assert proj.tau.item() == pytest.approx(4.0, rel=1e-6)
    x = (torch.rand(4, 2, 3, 6) > 0.3).float()
    proj.preactivation(x).square().sum().backward()
    assert proj.rho.grad is not None and proj.rho.grad.abs().item() > 0
    # through the spiking output too (surrogate gradient)
    proj.zero_grad()
    proj(x).sum().backward()
    assert torch.isfinite(proj.rho.grad).all() and proj.rho.grad.abs().item() > 0


def test_temporal_filter_window_longer_than_T():
    x = torch.ones(2, 1)
    y = temporal_filter(x, torch.tensor([1.0, 0.5, 0.25]))
    np.testing.assert_allclose(y[:, 0].numpy(), [1.0, 1.5])


def test_unknown_attenuation_is_rejected():
    with pytest.raises(ValueError, match="attenuation"):
        SpikingProjection(2, 2, taw=2, form="cosine")
