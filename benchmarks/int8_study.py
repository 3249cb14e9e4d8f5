"""INT8 (Q/DQ, ONNX Runtime CPU) vs FP32: Set5 PSNR drop and speed per resolution, in one run.

    python benchmarks/int8_study.py --models edgesr/weights/edge_tiny_x2.pt \
        --calib ../shared/data/train/BSDS200 --set5 ../shared/data/benchmark/Set5 \
        --threads 1 2 --profile 360x640 --conv-sweep --out benchmarks/results/int8_study.json

Calibration frames are the BSDS200 images used as LR inputs (never Set5: the test set stays
held out). Speed: ORT sessions with ``--threads`` intra-op threads, FP32 and INT8 interleaved,
best of ``--repeats`` runs per resolution (the least disturbed by other processes).
``--profile HxW``: per-node kernel times (ORT profiler) of FP32 and each INT8 variant.
``--conv-sweep``: two 3x3 convs (+ReLU) of C->C channels, FP32 vs INT8, for C in 16..64:
where on this CPU an INT8 conv starts to pay.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

log = logging.getLogger("int8_study")


def load_any(path: str) -> Any:
    """A finished model.pt, or a training run's last.pt (a mid-training checkpoint)."""
    import torch

    from edgesr.models import build_model, load_model

    try:
        return load_model(path)
    except Exception:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        arch = ck["arch"]
        m = build_model(arch["family"], arch["config"], name=arch.get("name"))
        m.load_state_dict(ck["model"])
        log.info("%s: mid-training checkpoint (step %s)", path, ck.get("step"))
        return m.eval()


def body_only(model_path: Path) -> list[str]:
    """Everything except the nodes strictly between the first and the last Conv (the residual body):
    head conv, tail conv, output branch and the anchor (Slice/Concat of the input) stay in float."""
    import onnx

    nodes = list(onnx.load(str(model_path)).graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    return [n.name for i, n in enumerate(nodes) if not convs[0] < i < convs[-1] and n.op_type != "Constant"]


def ort_fn(path: Path) -> Any:
    from edgesr.calibration import frame_to_nchw, nchw_to_frame
    from edgesr.runtimes.ort import ort_session

    sess = ort_session(path, threads=1)
    return lambda lr: nchw_to_frame(sess.run(None, {"input": frame_to_nchw(lr)})[0])


def bench(paths: dict[str, Path], hw: tuple[int, int], repeats: int, threads: int = 1) -> dict[str, dict[str, float]]:
    """Best-of-N per model, interleaved. ``cpu_ms`` is the calling thread's CPU time (with one
    intra-op thread ORT computes on the caller), robust to other jobs on a shared machine; with
    more threads only ``wall_ms`` means anything (measure on an idle machine)."""
    from edgesr.runtimes.ort import ort_session

    sessions = {k: ort_session(p, threads=threads) for k, p in paths.items()}
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    cpu = {k: float("inf") for k in sessions}
    wall = dict(cpu)
    for s in sessions.values():
        s.run(None, {"input": x})  # warm-up
    for _ in range(repeats):
        for k, s in sessions.items():
            w, t = time.perf_counter(), time.thread_time()
            s.run(None, {"input": x})
            cpu[k] = min(cpu[k], time.thread_time() - t)
            wall[k] = min(wall[k], time.perf_counter() - w)
    return {k: {"cpu_ms": cpu[k] * 1000, "wall_ms": wall[k] * 1000} for k in sessions}


def profile(path: Path, hw: tuple[int, int], prefix: Path, runs: int = 4) -> dict[str, Any]:
    """Per-node kernel time (best of ``runs``, ms, single thread) and the op types ORT runs after
    its graph optimizations (shows whether Q/DQ+Conv were fused into QLinearConv)."""
    import onnx

    from edgesr.runtimes.ort import ort_session

    sess = ort_session(path, threads=1, options={"enable_profiling": True, "profile_file_prefix": str(prefix),
                                                 "optimized_model_filepath": str(prefix) + "_optimized.onnx"})
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    for _ in range(runs):
        sess.run(None, {"input": x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    times: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"][:-len("_kernel_time")]
            times.setdefault(name, []).append(e["dur"] / 1000)
            ops[name] = e["args"].get("op_name", "")
    nodes = [{"node": n, "op": ops[n], "ms": min(v)} for n, v in times.items()]
    optimized = [n.op_type for n in onnx.load(str(prefix) + "_optimized.onnx").graph.node]
    return {"total_ms": sum(n["ms"] for n in nodes), "nodes": nodes,
            "optimized_ops": {op: optimized.count(op) for op in sorted(set(optimized))}}


def conv_sweep(tmp: Path, hw: tuple[int, int], repeats: int, widths: tuple[int, ...] = (16, 24, 32, 48, 64)
               ) -> dict[str, dict[str, float]]:
    """Two C->C 3x3 convs + ReLU, FP32 vs INT8 (U8S8, per-channel, reduce_range as quantize_onnx
    picks it), single-thread CPU time: the width at which INT8 convs start to pay on this CPU."""
    import torch
    from edgesr.calibration.quantize import cpu_has_vnni
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    out: dict[str, dict[str, float]] = {}
    for c in widths:
        net = torch.nn.Sequential(torch.nn.Conv2d(c, c, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(c, c, 3, padding=1), torch.nn.ReLU()).eval()
        f32, q8 = tmp / f"sweep{c}.onnx", tmp / f"sweep{c}_int8.onnx"
        torch.onnx.export(net, (torch.rand(1, c, *hw),), str(f32), input_names=["input"], dynamo=False)
        frames = [{"input": np.random.default_rng(i).random((1, c, *hw), dtype=np.float32)} for i in range(4)]
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(f32), str(q8), _ListReader(frames), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=not cpu_has_vnni(), activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        t = bench_input({"fp32": f32, "int8": q8}, np.random.default_rng(0).random((1, c, *hw), dtype=np.float32),
                        repeats)
        out[str(c)] = {"fp32_cpu_ms": t["fp32"], "int8_cpu_ms": t["int8"], "int8_speedup": t["fp32"] / t["int8"]}
        log.info("conv sweep C=%d: %s", c, out[str(c)])
    return out


def option_probe(fp32: Path, data: Any, tmp: Path, hw: tuple[int, int], repeats: int) -> dict[str, Any]:
    """ORT quantizer options and layouts beyond ``quantize_onnx``'s arguments (built with
    ``quantize_static`` directly, MinMax, no guard), single-thread CPU time vs FP32 at ``hw``, plus
    FP32/INT8 under ``ORT_ENABLE_EXTENDED`` (no NCHWc layout transform for FP32)."""
    from edgesr.calibration import as_calibration_set
    from edgesr.calibration.quantize import _Reader
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    cal = as_calibration_set(data, "input")
    pre = tmp / "probe_pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    body, ranges = body_only(pre), tmp / "probe_ranges.json"
    head = [n for n in node_names(pre) if n.endswith("head/Conv")]
    u8, s8 = QuantType.QUInt8, QuantType.QInt8
    specs: dict[str, dict[str, Any]] = {
        "all_qdq": {}, "all_qoperator": {"quant_format": QuantFormat.QOperator},
        "all_ForceQuantizeNoInputCheck": {"extra_options": {"ForceQuantizeNoInputCheck": True}},
        "all_QDQKeepRemovableActivations": {"extra_options": {"QDQKeepRemovableActivations": True}},
        "all_PerChannelAxis_Conv0": {"extra_options": {"QDQOpTypePerChannelSupportToAxis": {"Conv": 0}}},
        "head_float": {"nodes_to_exclude": head},
        "body": {"nodes_to_exclude": body}, "body_qoperator": {"nodes_to_exclude": body,
                                                               "quant_format": QuantFormat.QOperator},
        "body_no_reduce_range": {"nodes_to_exclude": body, "reduce_range": False},
        "body_conv_only": {"nodes_to_exclude": body, "op_types_to_quantize": ["Conv"]},
        "body_u8u8": {"nodes_to_exclude": body, "weight_type": u8, "per_channel": False},
        "body_s8s8": {"nodes_to_exclude": body, "activation_type": s8},
        "body_s8s8_symmetric": {"nodes_to_exclude": body, "activation_type": s8,
                                "extra_options": {"ActivationSymmetric": True}},
    }
    paths = {"fp32": fp32}
    for name, kw in specs.items():
        args: dict[str, Any] = {"quant_format": QuantFormat.QDQ, "per_channel": True, "reduce_range": True,
                                "activation_type": u8, "weight_type": s8, **kw}
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(str(pre), str(tmp / f"probe_{name}.onnx"), _Reader(cal),
                            calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(ranges), **args)
        paths[name] = tmp / f"probe_{name}.onnx"
    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    t = bench_input(paths, x, repeats)
    out: dict[str, Any] = {k: {"cpu_ms": v, "speed_vs_fp32": t["fp32"] / v} for k, v in t.items()}
    ext = bench_input({k: paths[k] for k in ("fp32", "all_qdq", "body")}, x, repeats,
                      level="extended")
    out["ORT_ENABLE_EXTENDED"] = {k: {"cpu_ms": v, "speed_vs_fp32_enable_all": t["fp32"] / v} for k, v in ext.items()}
    return out


def node_names(model_path: Path) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(model_path)).graph.node]


class _ListReader:
    """ORT CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def bench_input(paths: dict[str, Path], x: np.ndarray, repeats: int, level: Any = None) -> dict[str, float]:
    """Best-of-N single-thread CPU time (ms), interleaved, for models with one input named 'input'
    (``level``: a graph optimization level of :func:`edgesr.runtimes.ort.ort_session`; default ORT's, "all")."""
    from edgesr.runtimes.ort import ort_session

    sessions = {k: ort_session(p, threads=1, level=level) for k, p in paths.items()}
    best = {k: float("inf") for k in sessions}
    for s in sessions.values():
        s.run(None, {"input": x})
    for _ in range(repeats):
        for k, s in sessions.items():
            t = time.thread_time()
            s.run(None, {"input": x})
            best[k] = min(best[k], time.thread_time() - t)
    return {k: v * 1000 for k, v in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--calib", default=None, help="calibration images (default: the shared data/train/BSDS200)")
    ap.add_argument("--set5", default=None, help="Set5 folder (default: the shared data/benchmark/Set5)")
    ap.add_argument("--methods", nargs="+", default=["minmax", "entropy", "percentile"])
    ap.add_argument("--variants", nargs="+", default=["u8s8", "u8s8_iofloat", "u8s8_body", "u8s8_body_pertensor",
                                                       "s8s8"],
                    help="for the first method only: u8s8 | u8s8_iofloat (first conv + output branch in float) | "
                         "u8s8_body (only the residual body's convs/adds in INT8; head, tail, anchor in float) | "
                         "u8s8_body_pertensor (same, per-tensor weights) | s8s8")
    ap.add_argument("--max-frames", type=int, default=32)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--sizes", nargs="+", default=["180x320", "360x640", "540x960"], help="LR input HxW for speed")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", nargs="+", type=int, default=[1], help="intra-op threads to time (1 2 ...)")
    ap.add_argument("--profile", default="", help="LR HxW for a per-node profile of every variant ('' = off)")
    ap.add_argument("--conv-sweep", action="store_true", help="also time C->C convs, FP32 vs INT8, C = 16..64")
    ap.add_argument("--option-probe", default="", help="LR HxW: also time ORT quantizer options/layouts ('' = off)")
    ap.add_argument("--out", default="benchmarks/results/int8_study.json")
    a = ap.parse_args()
    a.calib = a.calib or str(shared("data", "train", "BSDS200"))
    a.set5 = a.set5 or str(shared("data", "benchmark", "Set5"))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from edgesr.calibration import load_calibration, quantize_onnx
    from edgesr.calibration.quantize import io_layers
    from edgesr.export.onnx import export_onnx

    from edgesr.evaluation import evaluate

    data = load_calibration(a.calib, crop=a.crop, max_frames=a.max_frames)
    import onnxruntime

    from edgesr.machine import describe_machine

    results: dict[str, Any] = {"machine": describe_machine(), "calib": a.calib,
                               "calib_frames": len(data), "crop": a.crop, "models": []}
    results["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory() as tmp:
        for mp in a.models:
            model = load_any(mp)
            s = int(model.scale)
            fp32 = export_onnx(model, Path(tmp) / f"x{s}_fp32.onnx")
            row: dict[str, Any] = {"model": mp, "scale": s, "fp32_set5": evaluate(ort_fn(fp32), a.set5, s).psnr,
                                   "int8": {}}
            paths = {"fp32": fp32}
            for method in a.methods:
                q = Path(tmp) / f"x{s}_{method}.onnx"
                rep = quantize_onnx(fp32, q, data, method)
                psnr = evaluate(ort_fn(q), a.set5, s).psnr
                row["int8"][method] = {"set5": psnr, "set5_drop_db": row["fp32_set5"] - psnr,
                                       "guard": rep.quality, "excluded": rep.excluded_nodes,
                                       "auto_excluded": rep.auto_excluded, "reduce_range": rep.reduce_range}
                paths[method] = q
                log.info("x%d %s: Set5 %.3f dB (FP32 %.3f, drop %.3f)", s, method, psnr, row["fp32_set5"],
                         row["fp32_set5"] - psnr)
            for variant in a.variants:
                if variant == "u8s8":
                    continue  # the method rows above
                kw: dict[str, Any] = {
                    "s8s8": {"activation_type": "int8"},
                    "u8s8_iofloat": {"nodes_to_exclude": io_layers(fp32)},
                    "u8s8_body": {"nodes_to_exclude": body_only(fp32)},
                    "u8s8_body_pertensor": {"nodes_to_exclude": body_only(fp32), "per_channel": False},
                }[variant]
                q = Path(tmp) / f"x{s}_{variant}.onnx"
                rep = quantize_onnx(fp32, q, data, a.methods[0], **kw)
                psnr = evaluate(ort_fn(q), a.set5, s).psnr
                row["int8"][f"{a.methods[0]}_{variant}"] = {
                    "set5": psnr, "set5_drop_db": row["fp32_set5"] - psnr, "guard": rep.quality,
                    "excluded": rep.excluded_nodes, "auto_excluded": rep.auto_excluded,
                    "reduce_range": rep.reduce_range}
                paths[f"{a.methods[0]}_{variant}"] = q
            row["speed_ms"] = {}
            for threads in a.threads:
                key = "speed_ms" if threads == 1 else f"speed_ms_{threads}threads"
                row[key] = {}
                for size in a.sizes:
                    h, w = (int(v) for v in size.split("x"))
                    row[key][size] = bench(paths, (h, w), a.repeats, threads)
                    log.info("x%d %s, %d thread(s): %s", s, size, threads, row[key][size])
            if a.option_probe:
                h, w = (int(v) for v in a.option_probe.split("x"))
                row["option_probe"] = {"size": a.option_probe,
                                       **option_probe(fp32, data, Path(tmp), (h, w), a.repeats)}
                log.info("x%d option probe: %s", s, row["option_probe"])
            if a.profile:
                h, w = (int(v) for v in a.profile.split("x"))
                row["profile"] = {"size": a.profile, **{k: profile(p, (h, w), Path(tmp) / f"prof_x{s}_{k}")
                                                        for k, p in paths.items()}}
            results["models"].append(row)
        if a.conv_sweep:
            results["conv_sweep"] = {"size": "180x320", "widths": conv_sweep(Path(tmp), (180, 320), a.repeats)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2))
    for row in results["models"]:
        print(f"\nx{row['scale']} {row['model']}: FP32 Set5 {row['fp32_set5']:.3f} dB")
        for m, r in row["int8"].items():
            print(f"  {m:<11} Set5 {r['set5']:.3f} dB  drop {r['set5_drop_db']:+.3f}  guard drop "
                  f"{r['guard']['drop_db']:+.3f}  excluded {r['auto_excluded']}")
        for key in [k for k in row if k.startswith("speed_ms")]:
            unit = "cpu_ms" if key == "speed_ms" else "wall_ms"
            print(f"  {key} ({unit}):")
            for size, t in row[key].items():
                print(f"  {size:>8}: " + "  ".join(f"{k} {v[unit]:.1f} ms ({t['fp32'][unit] / v[unit]:.2f}x)"
                                                  for k, v in t.items()))
        for k, v in row.get("option_probe", {}).items():
            if k not in ("size", "ORT_ENABLE_EXTENDED"):
                print(f"  probe {k:<32} {v['cpu_ms']:.1f} ms ({v['speed_vs_fp32']:.2f}x)")
        for k, v in row.get("option_probe", {}).get("ORT_ENABLE_EXTENDED", {}).items():
            print(f"  probe ENABLE_EXTENDED {k:<16} {v['cpu_ms']:.1f} ms ({v['speed_vs_fp32_enable_all']:.2f}x of FP32 ALL)")
    for c, r in results.get("conv_sweep", {}).get("widths", {}).items():
        print(f"  conv {c}->{c}: FP32 {r['fp32_cpu_ms']:.1f} ms, INT8 {r['int8_cpu_ms']:.1f} ms "
              f"({r['int8_speedup']:.2f}x)")


if __name__ == "__main__":
    main()
