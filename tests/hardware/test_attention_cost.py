"""The per-preset attention cost table (docs/hardware.md) against hand-worked formulas.

Sizes per block (docs/../shared/reference/attention-on-cores.md; N tokens, D channels, H heads,
d = D/H, c = chunk), populations as (neurons, stored entries per neuron):
- pairwise (table m^2: every step nonzero, t[0] = 0 so no v -> out entries; shift 0, so out is a
  graded sum and there is no ``ones`` unit):
  qk (N^2 D, 2: q and k), score (N^2 H, d), level (N^2 D, 1), nsad (N^2 H, d), sv (N^2 D, 2: nsad and v),
  out (D N, N: the sv products), attn_lif (D N, 1: out one to one).
- associative: kv (N D d, 2), kvsum (D d, N), qkv (N D d, 2: q and kvsum), out (D N, d), attn_lif (D N, 1).
- block: kv (N D d, 2), kvsum (D d, N), clock (1, 0), kvblock (D d, c + 1: c delayed kvsum and clock),
  qkv (N D d, 1 + c: q and c delayed kvblock), out (D N, d), attn_lif (D N, 1).
- core: attn_lif (D N, 2 N rewritten operand entries).
Cores per population: ceil(neurons / min(8192, 65536 // entries)). Latency: pairwise 6, associative 4,
block 4 + c synapse stages; the core 1 (block core: c).
"""

import math

import pytest

from ds2ta.config import make_config
from ds2ta.hardware.attention_cost import cost_table

NPC, SPC = 8192, 128 * 1024 * 8 // 16


def _units(form, D, H, N, c):
    d = D // H
    return {
        "pairwise": [(N * N * D, 2), (N * N * H, d), (N * N * D, 1), (N * N * H, d), (N * N * D, 2),
                     (D * N, N), (D * N, 1)],
        "associative": [(N * D * d, 2), (D * d, N), (N * D * d, 2), (D * N, d), (D * N, 1)],
        "block": [(N * D * d, 2), (D * d, N), (1, 0), (D * d, c + 1), (N * D * d, 1 + c), (D * N, d), (D * N, 1)],
        "core": [(D * N, 2 * N)],
    }[form]


def _cores(n, e):
    return math.ceil(n / min(NPC, SPC // e if e else NPC))


def _hand(form, D, H, N, c):
    units = _units(form, D, H, N, c)
    latency = {"pairwise": 6, "associative": 4, "block": 4 + c, "core": None}[form]
    return (sum(n for n, _ in units), sum(n * e for n, e in units), sum(_cores(n, e) for n, e in units), latency)


def _presets():
    out = {}
    for name in ("tiny", "cifar10", "cifar100", "dvs"):
        cfg = make_config(name)
        out[name] = dict(embed_dim=cfg.embed_dim, heads=cfg.heads, tokens=cfg.num_tokens, depth=cfg.depth,
                         chunk=cfg.chunk)
    return out


def test_token_counts_follow_the_patchifier():
    p = _presets()
    assert {k: v["tokens"] for k, v in p.items()} == {"tiny": 4 * 4, "cifar10": 8 * 8, "cifar100": 8 * 8, "dvs": 8 * 8}


@pytest.fixture(scope="module")
def rows():
    return {(r.preset, r.attention, r.lowering): r for r in cost_table(_presets())}


@pytest.mark.parametrize("preset", ["tiny", "cifar10", "cifar100", "dvs"])
@pytest.mark.parametrize("attention,form", [("ds2ta", "pairwise"), ("spikformer", "associative"),
                                            ("statten", "block")])
def test_cost_matches_hand_formulas(rows, preset, attention, form):
    p = _presets()[preset]
    D, H, N, depth, c = p["embed_dim"], p["heads"], p["tokens"], p["depth"], p["chunk"]
    neurons, entries, cores, latency = _hand(form, D, H, N, c)
    r = rows[(preset, attention, "neurons")]
    assert (r.form, r.blocks) == (form, depth)
    assert (r.neurons, r.synapse_entries, r.cores, r.latency_steps) == (depth * neurons, depth * entries,
                                                                        depth * cores, latency)
    core_n, core_e, core_c, _ = _hand("core", D, H, N, c)
    k = rows[(preset, attention, "core")]
    assert (k.neurons, k.synapse_entries, k.cores) == (depth * core_n, depth * core_e, depth * core_c)
    assert k.latency_steps == (c if form == "block" else 1)


def test_cifar10_pairwise_by_hand(rows):
    # N = 64, D = 384, H = 12, d = 32: qk 1,572,864 / 8192 = 192 cores; score 49,152 / 2048 = 24; level 192;
    # nsad 24; sv 192; out 24,576 / (65,536 // 64 = 1024) = 24; attn_lif 3: 651 per block, 4 blocks.
    assert rows[("cifar10", "ds2ta", "neurons")].cores == 4 * 651
    assert rows[("cifar10", "ds2ta", "core")].cores == 4 * 48  # 24,576 / (65,536 // 128 = 512)
