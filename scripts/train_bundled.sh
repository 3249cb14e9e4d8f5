#!/usr/bin/env bash
# Recipe for the bundled models (edgesr/weights): dual regression training on T91 + BSDS200
# (real images), validation on Set5, on CPU. Usage:
#   scripts/train_bundled.sh KIND SCALE STEPS [THREADS]     e.g. scripts/train_bundled.sh tiny 2 8000 1
# Writes runs/bundled/edge_KIND_xSCALE/{model.pt,best.pt,log.jsonl}; resumable (re-run = --resume).
set -euo pipefail
kind=$1; scale=$2; steps=$3; threads=${4:-1}
data=${EDGESR_DATA:-../shared/data}
out=runs/bundled/edge_${kind}_x${scale}
edgesr train --model "edge_${kind}" --scale "$scale" \
  --data "$data/train/T91" "$data/train/BSDS200" --val-data "$data/benchmark/Set5" \
  --steps "$steps" --batch 16 --patch 48 --lr 1e-3 --schedule cosine --dual-weight 0.1 \
  --val-every 1000 --ckpt-every 250 --seed 0 --threads "$threads" --out "$out" --resume --no-progress
