#!/usr/bin/env bash
# GPU validation in ONE call (<= 8 min) on a bare CUDA machine (e.g. H200) that has python3 + torch but no
# TensorRT and no internet. Prepare here first:  bash scripts/prepare_gpu_wheels.sh  (-> build/gpu-wheels),
# then on the device, from the repo root:        bash scripts/gpu_check.sh           (carry build/gpu-wheels).
#
# Every check runs even when an earlier one fails; each gets a line in the status table
# (PASS / FAIL / SKIP with the reason). TensorRT missing is reported as SKIP, not a failure.
# Results go to $OUT (when set) or ./gpu_check_out. Exit code: 1 if any check FAILed, else 0.
set -u
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
OUT="${OUT:-$ROOT/gpu_check_out}"
mkdir -p "$OUT"
WHEELS="${WHEELS:-$ROOT/build/gpu-wheels}"
SITE="${SITE:-/tmp/edgesr_site}"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1   # never import the source tree's edgesr/ from the cwd
STATUS="$OUT/status.tsv"
: > "$STATUS"
T0=$(date +%s)

record() {  # name status seconds note
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STATUS"
  printf '== %-28s %-4s %4ss  %s\n' "$1" "$2" "$3" "$4"
}

DEADLINE_S="${DEADLINE_S:-450}"   # the whole script stays inside one 8-minute device call
step() {  # name timeout_s function-or-command...   (rc 0 PASS, rc 77 SKIP, else FAIL; output in $OUT/<name>.log)
  local name="$1" limit="$2"; shift 2
  local t=$(date +%s) rc note left
  left=$(( DEADLINE_S - (t - T0) ))
  if [ "$left" -lt 15 ]; then record "$name" SKIP 0 "no time left in the ${DEADLINE_S}s budget"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  timeout --kill-after=10 "$limit" bash -c "$*" > "$OUT/$name.log" 2>&1
  rc=$?
  note=$(grep -E '^(SKIP|NOTE):' "$OUT/$name.log" | tail -1 | cut -c1-150)
  if [ $rc -eq 0 ]; then record "$name" PASS $(( $(date +%s) - t )) "$note"
  elif [ $rc -eq 77 ]; then record "$name" SKIP $(( $(date +%s) - t )) "$note"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then record "$name" FAIL $(( $(date +%s) - t )) "timed out after ${limit}s"
  else record "$name" FAIL $(( $(date +%s) - t )) "rc=$rc: $(tail -1 "$OUT/$name.log" | cut -c1-120)"; fi
}

# ---------------------------------------------------------------------------------------------------
env_info() {
  echo "date: $(date -Is)"; uname -a
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "NOTE: no nvidia-smi"
  "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
}

install() {  # dependency wheels from $WHEELS; edgesr from this tree (fresh), else its prepared wheel
  local deps=() w
  for w in "$WHEELS"/*.whl; do [ -e "$w" ] && case "$(basename "$w")" in edgesr-*) ;; *) deps+=("$w");; esac; done
  if [ ${#deps[@]} -gt 0 ]; then  # one at a time: a wheel for another Python is noted, not fatal
    for w in "${deps[@]}"; do
      "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$w" \
        || echo "NOTE: could not install $(basename "$w") (other Python/platform?); tests needing it will skip"
    done
  else
    echo "NOTE: no dependency wheels in $WHEELS (run scripts/prepare_gpu_wheels.sh here and carry build/gpu-wheels)"
  fi
  if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --upgrade --target "$SITE" "$ROOT"; then
    echo "NOTE: building edgesr from source failed; installing the prepared wheel"
    "$PY" -m pip install -q --no-index --no-deps --upgrade --target "$SITE" "$WHEELS"/edgesr-*.whl || return 1
  fi
  (cd /tmp && PYTHONPATH="$SITE" "$PY" -c "import edgesr, edgesr.export, edgesr.runtimes; print('edgesr', edgesr.__version__, edgesr.__file__)")
}

need_cuda() { "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 77)" || { echo "SKIP: no CUDA GPU visible to torch"; return 77; }; }

torch_parity() {  # PyTorch CUDA FP32/FP16 vs CPU FP32 on a real photo, through the runtime backends
  need_cuda || return 77
  "$PY" - "$OUT" <<'PY'
import json, sys, time
import numpy as np, torch
import edgesr
from edgesr.runtimes import open_backend
out = sys.argv[1]
try:
    from edgesr.hub import bundled_model
    model = edgesr.load_model(bundled_model(format="pt")); src = "bundled"
except Exception:
    torch.manual_seed(0); model = edgesr.create_model("edge_tiny", scale=2).eval(); src = "edge_tiny random init"
try:
    from skimage import data
    img = data.astronaut().astype(np.float32) / 255
except Exception:
    img = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
x = np.ascontiguousarray(img.transpose(2, 0, 1)[None])
ref = open_backend(model, "pytorch", device="cpu", precision="fp32").run(x).copy()
res = {"model": src, "gpu": torch.cuda.get_device_name(0), "rows": {}}
ok = True
for prec, min_psnr in (("fp32", 60.0), ("fp16", 40.0)):
    b = open_backend(model, "pytorch", device="cuda", precision=prec)
    y = b.run(x).copy()
    mse = float(np.mean((np.clip(y, 0, 1) - np.clip(ref, 0, 1)) ** 2))
    psnr = 10 * np.log10(1 / max(mse, 1e-20))
    xs = np.random.default_rng(1).random((1, 3, 1080, 1920), dtype=np.float32)
    for _ in range(3): b.run(xs)
    t = time.perf_counter(); n = 20
    for _ in range(n): b.run(xs)
    fps = n / (time.perf_counter() - t)
    res["rows"][prec] = {"psnr_vs_cpu_db": round(psnr, 2), "max_abs": float(np.abs(y - ref).max()),
                         "fps_1080p_input_host_roundtrip": round(fps, 1)}
    ok &= psnr >= min_psnr
    print(f"pytorch cuda {prec}: PSNR vs CPU {psnr:.1f} dB (need >= {min_psnr}), 1080p input {fps:.1f} fps")
    b.close()
json.dump(res, open(f"{out}/torch_parity.json", "w"), indent=1)
sys.exit(0 if ok else 1)
PY
}

cuda_memory() {  # runtimes/memory.py self_test with cuda-python (and pycuda when present)
  need_cuda || return 77
  "$PY" - <<'PY'
import importlib.util, sys
from edgesr.runtimes.memory import self_test
ok = True
for impl in ("cuda-python", "pycuda"):
    mod = "cuda" if impl == "cuda-python" else "pycuda"
    if importlib.util.find_spec(mod) is None:
        print(f"NOTE: {impl} not installed, not tested"); continue
    r = self_test(impl, nbytes=64 << 20)
    print(impl, r); ok &= bool(r.get("ok"))
sys.exit(0 if ok else 1)
PY
}

bench_gpu() {  # every backend/precision this machine has, 360p..1080p, no skipping
  need_cuda || return 77
  (cd /tmp && "$PY" -m edgesr bench --device cuda --full --budget 1.0 --sizes 360p,540p,720p,1080p \
     --json "$OUT/bench_gpu.json" --plot "$OUT/bench_gpu.png") || return 1
  "$PY" -c "
import json; d = json.load(open('$OUT/bench_gpu.json'))
bad = [c['row'] for c in d['cells'] if c['status'] == 'error']
print('NOTE: errors in', bad) if bad else None
raise SystemExit(1 if bad else 0)"
}

pytest_gpu() {
  need_cuda || return 77
  "$PY" -m pytest -m gpu -q -p no:cacheprovider -o addopts="" --import-mode=importlib tests; local rc=$?
  [ $rc -eq 5 ] && { echo "SKIP: no test marked gpu was collected"; return 77; }
  return $rc
}

tensorrt_check() {  # FP32/FP16/INT8 engines vs ORT FP32 (PSNR) and throughput at 360p/720p/1080p
  need_cuda || return 77
  "$PY" -c "import tensorrt; tensorrt.Builder" 2>/dev/null || { echo "SKIP: TensorRT not present on this machine (pip install 'edgesr[trt]' or JetPack)"; return 77; }
  "$PY" - "$OUT" <<'PY'
import json, sys, tempfile, time
from pathlib import Path
import cv2, numpy as np, torch
import edgesr
from edgesr.export.onnx import export_onnx
from edgesr.export.trt import build_engine
from edgesr.runtimes import open_backend
out = Path(sys.argv[1]); work = Path(tempfile.mkdtemp())
torch.manual_seed(0)
try:
    from edgesr.hub import bundled_model
    onnx_path = bundled_model(format="onnx")
except Exception:
    onnx_path = export_onnx(edgesr.create_model("edge_tiny", scale=2).eval(), work / "edge_tiny_x2.onnx")
from skimage import data
img = data.astronaut()
calib = work / "calib"; calib.mkdir()
for i, (y, x) in enumerate([(0, 0), (100, 200), (250, 50), (300, 300), (50, 350), (200, 200)]):
    cv2.imwrite(str(calib / f"{i}.png"), img[y:y + 160, x:x + 160, ::-1])
x = np.ascontiguousarray((img.astype(np.float32) / 255).transpose(2, 0, 1)[None])
ref = open_backend(onnx_path, "onnxruntime", device="cpu").run(x).copy()
res, ok = {}, True
for prec, min_psnr in (("fp32", 50.0), ("fp16", 40.0), ("int8", 30.0)):
    try:
        eng = build_engine(onnx_path, work / f"m.{prec}.engine", precision=prec,
                           calib=calib if prec == "int8" else None, max_shape=(1, 3, 1080, 1920))
        b = open_backend(eng, "tensorrt")
        y = b.run(x).copy()
        psnr = 10 * np.log10(1 / max(float(np.mean((np.clip(y, 0, 1) - np.clip(ref, 0, 1)) ** 2)), 1e-20))
        row = {"psnr_vs_ort_fp32_db": round(psnr, 2)}
        for name, (h, w) in {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}.items():
            xs = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
            for _ in range(3): b.run(xs)
            t = time.perf_counter(); n = 30
            for _ in range(n): b.run(xs)
            row[f"fps_{name}"] = round(n / (time.perf_counter() - t), 1)
        b.close()
        ok &= psnr >= min_psnr
        print(f"tensorrt {prec}: {row}")
    except Exception as e:
        row = {"error": f"{type(e).__name__}: {e}"}; ok = False; print(f"tensorrt {prec}: {row}")
    res[prec] = row
json.dump(res, open(out / "tensorrt.json", "w"), indent=1)
sys.exit(0 if ok else 1)
PY
}

# ---------------------------------------------------------------------------------------------------
export ROOT OUT WHEELS SITE PY
export -f record env_info install need_cuda torch_parity cuda_memory bench_gpu pytest_gpu tensorrt_check
step env          20  env_info
step install      90  install
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
step doctor       60  '"$PY" -m edgesr doctor'
step torch_parity 75  torch_parity
step cuda_memory  40  cuda_memory
step bench_gpu    120 bench_gpu
step pytest_gpu   100 pytest_gpu
step tensorrt     150 tensorrt_check

echo
echo "summary (total $(( $(date +%s) - T0 ))s; logs and JSON in $OUT):"
column -t -s $'\t' "$STATUS" 2>/dev/null || cat "$STATUS"
cp "$STATUS" "$OUT/summary.txt" 2>/dev/null
grep -q $'\tFAIL\t' "$STATUS" && exit 1
exit 0
