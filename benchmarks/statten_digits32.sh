#!/usr/bin/env bash
# STAtten as published and SDSA at CIFAR size (issue 12), meant for a GPU: on digits32 (CIFAR-shaped
# digits; no CIFAR files offline) train the statten-cifar10 preset (SDT-V1 backbone, official scale
# 1/H), the same with SDSA, and the cifar10 preset with SDSA (Spikformer backbone); export STAtten as
# published and the last (PTQ, whole test split). Results in $OUT: NAME.metrics.json per run,
# NAME.quantization.json per export, log.txt.
# Usage: OUT=runs/statten32 [DEVICE=cuda] [EPOCHS=10] bash benchmarks/statten_digits32.sh
set -euo pipefail
OUT=${OUT:-runs/statten32}; DEVICE=${DEVICE:-cuda}; EPOCHS=${EPOCHS:-10}
WORK=${WORK:-$(mktemp -d)}; PY=${PY:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/log.txt") 2>&1
source benchmarks/gpu_env.sh
for spec in ${RUNS:-statten-cifar10:statten statten-cifar10:sdsa cifar10:sdsa}; do
  preset=${spec%%:*}; attention=${spec##*:}; name=$preset-$attention
  stamp "train $name on digits32, $EPOCHS epochs, $DEVICE"
  $PY -m ds2ta.cli.train --preset "$preset" --attention "$attention" --dataset digits32 \
    --epochs "$EPOCHS" --batch-size 64 --device "$DEVICE" --out "$WORK/$name" --no-progress 2>&1 | tail -2
  cp "$WORK/$name/metrics.json" "$OUT/$name.metrics.json"
done
for name in ${EXPORTS:-statten-cifar10-statten cifar10-sdsa}; do
  [ -f "$WORK/$name/model.pt" ] || continue
  stamp "export $name (PTQ, whole test split)"
  $PY -m ds2ta.cli.export "$WORK/$name/model.pt" --target loihi2 --chips 64 --device "$DEVICE" \
    --batch-size 60 --out "$WORK/$name-export" --no-progress 2>&1 | grep -v Warning | tail -4
  cp "$WORK/$name-export/quantization.json" "$OUT/$name.quantization.json"
done
stamp done
