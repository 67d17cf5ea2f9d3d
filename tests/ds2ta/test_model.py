"""Model-level checks: analytic parameter counts per preset, shapes, input validation."""

import copy
import weakref

import pytest
import torch

from ds2ta import DS2TA, PRESETS, make_config


def analytic_params(preset: str, attention: str) -> int:
    """Count written out from the architecture (docs/model.md), independent of the module tree."""
    c = make_config(preset, attention=attention)
    D, C_in, K, L = c.embed_dim, c.in_channels, c.num_classes, c.depth
    widths = [C_in, D // 8, D // 4, D // 2, D]
    sps = sum(9 * widths[i] * widths[i + 1] + 2 * widths[i + 1] for i in range(4))  # conv + BN
    rpe = 9 * D * D + 2 * D
    proj = D * D + 2 * D  # Linear (no bias) + BN
    sdt = c.backbone == "sdt"
    # SDT-V1: the output projection and both MLP layers are Conv1x1 with bias + BN (no LIF after them)
    attn = 3 * proj + (proj + D if sdt else proj)
    if attention == "ds2ta":
        attn += (3 if sdt else 4) * (c.taw > 1)  # one tau per TASA projection (SDT's o is no projection)
        attn += c.heads * (c.head_dim + 1) * c.nsad  # NSAD tables
    mlp = (D * 4 * D + 2 * 4 * D) + (4 * D * D + 2 * D) + (5 * D if sdt else 0)
    head = D * K + K
    return sps + rpe + L * (attn + mlp) + head


# The numbers stated in docs/model.md
DOC_COUNTS = {("tiny", "ds2ta"): 112_522, ("tiny", "spikformer"): 112_450,
              ("cifar10", "ds2ta"): 9_312_506, ("cifar10", "spikformer"): 9_310_906,
              ("cifar100", "ds2ta"): 9_347_156, ("dvs", "ds2ta"): 2_564_403,
              ("statten-cifar10", "statten"): 2_566_954, ("statten-cifar10-512", "statten"): 10_233_418,
              ("statten-dvs", "statten"): 2_566_666}


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten", "sdsa"])
def test_parameter_count_matches_analytic(preset, attention):
    m = DS2TA(make_config(preset, attention=attention))
    n = sum(p.numel() for p in m.parameters())
    assert n == analytic_params(preset, attention)
    if (preset, attention) in DOC_COUNTS:
        assert n == DOC_COUNTS[(preset, attention)]


def test_cifar10_spikformer_size_matches_the_paper():
    # Spikformer-4-384 has 9.32 M parameters (Zhou et al. 2023, Table 1)
    n = sum(p.numel() for p in DS2TA(make_config("cifar10", attention="spikformer")).parameters())
    assert abs(n / 1e6 - 9.32) < 0.02


@pytest.mark.parametrize("backbone", ["spikformer", "sdt"])
@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten", "sdsa"])
def test_forward_shapes_direct_and_events(attention, backbone):
    m = DS2TA(make_config("tiny", attention=attention, backbone=backbone))
    assert m(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert m.forward_features(torch.rand(2, 1, 8, 8)).shape == (4, 2, 16, 64)  # (T, B, N, D)
    e = DS2TA(make_config("tiny-dvs", attention=attention, backbone=backbone))
    assert e(torch.randint(0, 3, (2, 10, 2, 16, 16)).float()).shape == (2, 10)


def test_event_time_axis_is_respected():
    # Dataset frames are (B, T, C, H, W); the network must see step t of sample b at [t, b].
    m = DS2TA(make_config("tiny-dvs")).eval()
    x = torch.zeros(2, 10, 2, 16, 16)
    x[1, 7, 0, 3, 5] = 1.0
    enc = m.encode(x)  # (T, B, C, H, W)
    assert enc.shape == (10, 2, 2, 16, 16)
    assert enc[7, 1, 0, 3, 5] == 1.0 and enc.sum() == 1.0
    d = DS2TA(make_config("tiny")).encode(torch.rand(3, 1, 8, 8))
    assert d.shape == (4, 3, 1, 8, 8) and torch.equal(d[0], d[3])  # direct: same image every step


def test_bad_inputs_and_configs_raise_clear_errors():
    m = DS2TA(make_config("tiny"))
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        m(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="preset"):
        make_config("huge")
    with pytest.raises(ValueError, match="divisible"):
        make_config("tiny", heads=5)
    with pytest.raises(ValueError, match="chunk"):
        make_config("tiny", attention="statten", chunk=3)
    with pytest.raises(ValueError, match="attention"):
        make_config("tiny", attention="softmax")


def _grads_and_buffers(model, x, y):
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach(), grads, {n: b.clone() for n, b in model.named_buffers()}


@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten", "sdsa"])
@pytest.mark.parametrize("preset", ["tiny", "tiny-dvs", "statten-dvs"])
def test_activation_checkpointing_gives_identical_gradients_and_bn_statistics(preset, attention):
    torch.manual_seed(0)
    plain = DS2TA(make_config(preset, embed_dim=32, heads=4, mlp_ratio=2, depth=2, attention=attention))
    ckpt = copy.deepcopy(plain)
    ckpt.checkpoint_activations = True
    c = plain.cfg
    if c.encoding == "direct":
        x = torch.rand(6, c.in_channels, c.img_size, c.img_size) * 3
    else:
        x = torch.randint(0, 3, (6, c.T, c.in_channels, c.img_size, c.img_size)).float()
    y = torch.arange(6)
    out_a, grads_a, bufs_a = _grads_and_buffers(plain, x, y)
    out_b, grads_b, bufs_b = _grads_and_buffers(ckpt, x, y)
    # Bit-equal: the recomputation runs the same CPU kernels on the same inputs, in the same order.
    assert torch.equal(out_a, out_b)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == len(list(plain.parameters()))
    assert sum(bool(g.abs().sum() > 0) for g in grads_a.values()) > len(grads_a) // 2
    for n in grads_a:
        if "nsad.table" in n:  # scatter-add of ~6e4 float32 terms into 9 entries per head: its
            # order varies between runs on multithreaded CPU even without checkpointing (seen: up
            # to 2e-7 on entries up to 0.06); a wrong gradient would differ by ~1e-2
            torch.testing.assert_close(grads_a[n], grads_b[n], rtol=1e-5, atol=1e-6, msg=n)
        else:
            assert torch.equal(grads_a[n], grads_b[n]), n
    # BN running statistics and batch counts updated once, not again by the recomputation
    for n in bufs_a:
        assert torch.equal(bufs_a[n], bufs_b[n]), n
    first_bn = next(k for k in bufs_b if k.endswith("num_batches_tracked"))  # sps.stages.0.bn / sps.bns.0
    assert int(bufs_b[first_bn]) == 1


def test_activation_checkpointing_keeps_only_segment_inputs():
    torch.manual_seed(0)
    model = DS2TA(make_config("tiny", depth=2)).train()
    x = torch.rand(8, 1, 8, 8) * 3

    def saved_bytes(on: bool) -> int:
        model.checkpoint_activations = on
        packed = []

        def pack(t):  # the graph holds what pack returns: the weak reference dies with its node
            packed.append(weakref.ref(t))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(x)  # noqa: F841 (keeps the graph alive while counting)
            storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                        for t in (r() for r in packed) if t is not None}
        return sum(storages.values())

    full, kept = saved_bytes(False), saved_bytes(True)
    # What may stay for backward, float32: each segment's input -- the image (B, 1, 8, 8) for SPS
    # stage 0, stages 1-3 get (T, B, D/8 | D/4 | D/2, 8, 8), the RPE (T, B, D, 4, 4), the two
    # blocks (T, B, N, D) -- and the head's input (T, B, D) and weight (classes, D): 864,768 bytes.
    T, B, N, D = 4, 8, 16, 64
    stage_inputs = B * 64 + T * B * (D // 8 + D // 4 + D // 2) * 64 + T * B * D * 16
    budget = 4 * (stage_inputs + 2 * T * B * N * D + T * B * D + 10 * D)
    assert kept <= budget
    assert full > 15 * budget  # without: every LIF, BN, conv and attention input (21.8x here)


@pytest.mark.parametrize("preset,attention,scale", [
    ("tiny", "statten", 1 / 4),          # static, 4 x 4 token grid: 1/H
    ("cifar10", "statten", 1 / 8),       # static, 8 x 8: 1/H (= the old fixed 1/8)
    ("tiny-dvs", "statten", 1 / (4 * 4 * 5)),   # events, 4 x 4 grid, chunk 5: 1/(H H chunk)
    ("dvs", "statten", 1 / (8 * 8 * 5)),
    ("tiny", "ds2ta", 1 / 8), ("dvs", "spikformer", 1 / 8),
])
def test_attention_scale_follows_statten_rule(preset, attention, scale):
    """STAtten's official scale (module/ms_conv.py: 1/H static, 1/(H*H*chunk) on DVS); others keep 1/8."""
    from ds2ta.config import make_config

    assert make_config(preset, attention=attention).attn_scale == pytest.approx(scale, rel=1e-12)
    assert make_config(preset, attention=attention, attn_scale=0.5).attn_scale == 0.5  # still overridable
