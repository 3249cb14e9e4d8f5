#!/usr/bin/env bash
# Recipe for the bundled models (edgesr/weights): dual regression training on T91 + BSDS200
# (real images), validation on Set5, on CPU. Usage:
#   scripts/train_bundled.sh KIND SCALE STEPS [THREADS] [INIT.pt] [OUT]
# e.g. scripts/train_bundled.sh tiny 2 3000 1
#      scripts/train_bundled.sh tiny 4 3000 1 runs/bundled/edge_tiny_x2/best.pt   (warm start from x2)
#      LR=5e-4 scripts/train_bundled.sh base 2 3000 1 edgesr/weights/edge_tiny_x2.pt (tiny widened into base)
# Writes runs/bundled/edge_KIND_xSCALE/{model.pt,best.pt,log.jsonl}; resumable (re-run = --resume).
# Precision: auto = bf16 autocast on CPUs with avx512_bf16/amx_bf16 (2.1x the fp32 steps/s for tiny,
# same Set5/Set14 after 1,500 steps: benchmarks/results/lever_study.json), fp32 elsewhere; PRECISION=fp32
# for bit-exact runs across machines. NHWC (channels_last): 1.2-1.5x (benchmarks/results/train_throughput.json).
set -euo pipefail
kind=$1; scale=$2; steps=$3; threads=${4:-1}; init=${5:-}
data=${EDGESR_DATA:-../shared/data}
out=${6:-runs/bundled/edge_${kind}_x${scale}}
extra=()
if [ -n "$init" ]; then extra=(--init "$init"); fi
edgesr train --model "edge_${kind}" --scale "$scale" \
  --data "$data/train/T91" "$data/train/BSDS200" --val-data "$data/benchmark/Set5" \
  --steps "$steps" --batch 16 --patch 48 --lr "${LR:-1e-3}" --schedule cosine --dual-weight 0.1 \
  --val-every 1000 --ckpt-every 250 --seed 0 --threads "$threads" \
  --precision "${PRECISION:-auto}" --channels-last --out "$out" --resume --no-progress "${extra[@]}"
