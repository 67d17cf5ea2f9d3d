"""Make an exported graph's NSAD tables non-linear, so its attention needs the pairwise lowering.

A DS2TA model trained briefly (benchmarks/scale.py: 8 steps) keeps NSAD's initial linear table, which
the neuron lowering computes as ``Q (K^T V)``; a trained model's table is non-linear and needs the
pairwise form (``3 N^2 D`` units per block). This writes a copy of ``IN.nir`` whose tables saturate,
``t[h, m] = t[h, 1] * min(m, 8 + h mod 4)`` (8-bit steps, ``t[h, 0] = 0``), to measure the pairwise form
at scale::

    python benchmarks/nsad_variant.py runs/scale/cifar10/export-neurons/model.nir runs/scale/cifar10-pairwise/model.nir
    ds2ta-sim runs/scale/cifar10-pairwise/model.nir --backend lava --compare --samples 1
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from ds2ta.export import read_graph
    from ds2ta.export.nir_io import write_graph

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    g = read_graph(args[0])
    n = 0
    for node in g.nodes.values():
        if type(node).__name__ == "DS2TASpikeAttention":
            t = np.asarray(node.table).astype(np.int64)
            m = np.arange(t.shape[1])
            node.table = t[:, 1:2] * np.minimum(m, 8 + np.arange(t.shape[0])[:, None] % 4)
            n += 1
    if not n:
        print(f"{args[0]}: no DS2TASpikeAttention node (is it a ds2ta graph?)", file=sys.stderr)
        return 2
    Path(args[1]).parent.mkdir(parents=True, exist_ok=True)
    write_graph(args[1], g)
    print(f"wrote {args[1]}: {n} attention tables made non-linear")
    return 0


if __name__ == "__main__":
    sys.exit(main())
