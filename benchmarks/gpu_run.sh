#!/usr/bin/env bash
# Everything this project checks on a GPU, in one go (Python 3.12 + torch preinstalled, no lava):
# a short CIFAR-shaped training, training throughput vs spikingjelly, integer reference CPU==CUDA,
# NVML energy. Results land in $OUT (default runs/gpu). Wheels for nir/spikingjelly may be given in .whl/.
set -euo pipefail
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
python3 -m pip install -q --no-deps --no-build-isolation --ignore-requires-python -e . >/dev/null
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv | tee "$OUT/nvidia-smi.txt"
# 1. CIFAR-shaped training (cifar10 preset, digits32 = CIFAR-shaped digits; no CIFAR files here), AMP
python3 -m ds2ta.cli.train --preset cifar10 --dataset digits32 --epochs "${C10_EPOCHS:-10}" --batch-size 64 \
  --device cuda --out "$OUT/c10" --no-progress 2>&1 | tail -4
# 2. tiny on digits (the demo model), then export and check the integer reference on CUDA
python3 -m ds2ta.cli.train --dataset digits --epochs "${TINY_EPOCHS:-60}" --device cuda --out "$OUT/tiny" --no-progress 2>&1 | tail -2
python3 -m ds2ta.cli.export "$OUT/tiny/model.pt" --target loihi2 --out "$OUT/tiny-export" 2>&1 | tail -3
python3 benchmarks/gpu_checks.py "$OUT/tiny/model.pt" "$OUT/tiny-export/model.nir" --out "$OUT" --seconds "${SECONDS_WINDOW:-10}"
# 3. training throughput, ds2ta LIF vs spikingjelly LIFNode (torch backend; cupy backend if present)
python3 benchmarks/train_speed.py --device cuda --iters 30 --out "$OUT/train_speed_cuda.json" 2>&1 | tail -6
