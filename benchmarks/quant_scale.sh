#!/usr/bin/env bash
# Quantization at paper scale (issue 9, item 5): train the cifar10 preset on digits32 (CIFAR-shaped
# digits: no CIFAR files offline), export it to Loihi fixed point with PTQ and evaluate float vs
# integer on the whole digits32 test split; when PTQ loses more than 1 pp, export again with QAT.
# On a CUDA machine it ends with benchmarks/gpu_checks.py on the paper-scale export (integer
# reference CPU == CUDA, NVML energy). Results (small files only) land in $OUT:
#   metrics.json (training), ptq_quantization.json, qat_quantization.json (when needed),
#   gpu_checks.json, log.txt, model.pt.part-* (the checkpoint in 15 MiB pieces: `cat` them back).
# Usage: OUT=runs/quant_scale [DEVICE=cuda] [EPOCHS=10] [PRESET=cifar10] bash benchmarks/quant_scale.sh
set -euo pipefail
OUT=${OUT:-runs/quant_scale}; DEVICE=${DEVICE:-cuda}; PRESET=${PRESET:-cifar10}
DATASET=${DATASET:-digits32}; EPOCHS=${EPOCHS:-10}; QAT_EPOCHS=${QAT_EPOCHS:-2}
WORK=${WORK:-$(mktemp -d)}; PY=${PY:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/log.txt") 2>&1
source benchmarks/gpu_env.sh

stamp "train $PRESET on $DATASET, $EPOCHS epochs, $DEVICE"
$PY -m ds2ta.cli.train --preset "$PRESET" --dataset "$DATASET" --epochs "$EPOCHS" --batch-size 64 \
  --device "$DEVICE" --out "$WORK/train" --no-progress 2>&1 | tail -4
cp "$WORK/train/metrics.json" "$OUT/metrics.json"
# the checkpoint without its resume state (optimizer moments: 3x the weights), in pieces that fit $OUT
$PY -c "import torch, sys; c = torch.load(sys.argv[1], weights_only=False, map_location='cpu'); \
c.pop('train_state', None); torch.save(c, sys.argv[2])" "$WORK/train/model.pt" "$WORK/model-weights.pt"
split -b 15m "$WORK/model-weights.pt" "$OUT/model.pt.part-"

export_run() {  # $1 = name, $2 = QAT epochs; the whole test split (no --max-eval)
  stamp "export $1 (qat epochs $2)"
  $PY -m ds2ta.cli.export "$WORK/train/model.pt" --target loihi2 --chips 64 --device "$DEVICE" \
    --batch-size 60 --qat-epochs "$2" --out "$WORK/$1" --no-progress 2>&1 | grep -v Warning | tail -5
  cp "$WORK/$1/quantization.json" "$OUT/$1_quantization.json"
}
drop_pp() { $PY -c "import json,sys; a=json.load(open(sys.argv[1]))['accuracy']; \
print(f\"{100*(a.get('float_after_qat', a['float'])-a['quantized']):.2f}\")" "$1"; }

export_run ptq 0
DROP=$(drop_pp "$OUT/ptq_quantization.json"); stamp "PTQ loses $DROP pp"
if $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$DROP" "${QAT_OVER:-1.0}"; then
  export_run qat "$QAT_EPOCHS"; stamp "QAT loses $(drop_pp "$OUT/qat_quantization.json") pp"
fi
if [ "${DEVICE%%:*}" = cuda ]; then
  stamp "gpu checks on the $PRESET export"
  $PY benchmarks/gpu_checks.py "$WORK/train/model.pt" "$WORK/ptq/model.nir" --out "$OUT" \
    --samples "${CHECK_SAMPLES:-64}" --seconds "${SECONDS_WINDOW:-5}" | tail -12 || true
fi
stamp done
