"""``--compare``'s ``match``: equal records and counts are not enough, the latencies must agree too."""

from __future__ import annotations

from ds2ta.sims.results import compare_results, result_dict, sample_rows


def _backend(name, latency):
    rows = sample_rows(0, [1, 0], [1, 1], {"lif": [3, 5]})
    return result_dict(name, "model.nir", 4, latency, {"lif": {"spikes": 8, "neurons": 2}}, rows, wall_s=0.1)


def test_match_needs_equal_latency():
    same = compare_results({"reference": _backend("reference", 2), "lava": _backend("lava", 2)}, None, True)
    assert same["match"] is True and same["checks"]["latency_equal"] is True
    diff = compare_results({"reference": _backend("reference", 3), "lava": _backend("lava", 2)}, None, True)
    assert diff["match"] is False and diff["checks"]["latency_equal"] is False
    assert diff["checks"]["latency_steps"] == {"lava": 2, "reference": 3}
    assert diff["checks"]["records_equal"] is True and diff["checks"]["count_mismatches"] == []
