"""Static INT8 quantization to explicit Q/DQ ONNX, with a quality guard that repairs what it breaks.

Why Q/DQ: one artefact runs on ONNX Runtime (CPU, testable here) and is consumed as-is by
TensorRT (explicit quantization; TensorRT 11 removed implicit calibration). SR networks lose
quality under naive INT8, so every build is measured (``guard.measure_quality``) and, when the
drop exceeds ``threshold_db``, the most sensitive layers are found by measurement (quantize with
one candidate kept in float, see which recovers most) and kept in higher precision, greedily,
until the drop is within the threshold. Activation ranges are computed once per (model, data,
method) and cached, so the sensitivity search only re-runs the cheap quantizer.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from edgesr.errors import ConfigError, DataError

from .dataset import CalibrationSet, as_calibration_set, common_size, default_cache_dir
from .guard import KERNELS, Quality, measure_quality, ort_session, session_fn

log = logging.getLogger(__name__)

METHODS = ("minmax", "entropy", "percentile")
QTYPES = ("uint8", "int8")


@dataclass
class Attempt:
    excluded: list[str]
    quality: dict[str, Any]


@dataclass
class QuantReport:
    """What ``quantize_onnx`` did and what it cost (also written into the ONNX metadata)."""

    output: str
    method: str
    activation_type: str
    weight_type: str
    per_channel: bool
    reduce_range: bool
    calib_frames: int
    holdout_frames: int
    threshold_db: float
    quality: dict[str, Any] | None = None  # final Quality.to_dict()
    passed: bool | None = None  # None: guard disabled
    excluded_nodes: list[str] = field(default_factory=list)
    auto_excluded: list[str] = field(default_factory=list)  # added by the guard
    sensitivity: dict[str, float] = field(default_factory=dict)  # candidate -> drop_db when kept in float
    attempts: list[Attempt] = field(default_factory=list)
    range_cache: str = ""
    range_cache_hit: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.quality is None:
            return f"INT8 ({self.method}) written to {self.output}; quality guard off"
        q = self.quality
        s = (f"INT8 ({self.method}): {q['gt_psnr_int8']:.2f} dB vs FP32 {q['gt_psnr_fp32']:.2f} dB "
             f"({q['gt_source']} ground truth, drop {q['drop_db']:.3f} dB, threshold {self.threshold_db}); "
             f"INT8 vs FP32 output {q['psnr_vs_fp32']:.2f} dB; dual consistency {q['dual_psnr_int8']:.2f} "
             f"(FP32 {q['dual_psnr_fp32']:.2f}) dB on {q['frames']} held-out frames")
        if self.auto_excluded:
            s += f"; kept in float by the guard: {', '.join(self.auto_excluded)}"
        if not self.passed:
            s += "; WARNING: still above the threshold"
        return s


class _Reader:
    """ORT ``CalibrationDataReader`` over a ``CalibrationSet`` (duck-typed: no ORT import at load)."""

    def __init__(self, data: CalibrationSet) -> None:
        self._data = data
        self._it: Iterator[dict[str, np.ndarray]] = iter(data)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def __len__(self) -> int:
        return len(self._data)

    def rewind(self) -> None:
        self._it = iter(self._data)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(CalibrationSet(self._data.frames[start_index:end_index], self._data.input_name))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _qtype(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    if name not in QTYPES:
        raise ConfigError(f"quantized type must be one of {QTYPES}, got {name!r}")
    return QuantType.QUInt8 if name == "uint8" else QuantType.QInt8


def cpu_has_vnni() -> bool:
    """x86 VNNI dot products avoid the U8S8 int16 saturation that ``reduce_range`` works around."""
    from edgesr.precision import INT8_DOT_FLAGS, cpu_flags

    flags = cpu_flags()
    if not flags:
        return True  # unknown (macOS, Windows): do not reduce range
    return any(f in flags for f in INT8_DOT_FLAGS)


def shuffle_nodes(model: Any) -> list[str]:
    """Names of ConvTranspose nodes that are pixel shuffles (one-hot weights, ``OneHotPixelShuffle``).

    They move pixels and compute nothing, so they stay in float: INT8 would only add Q/DQ pairs.
    """
    from onnx import numpy_helper

    from edgesr.models.base import is_one_hot_shuffle

    consts = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:  # weights may also be Constant nodes (TorchScript exports buffers so)
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = n.attribute[0].t
    return [n.name for n in model.graph.node if n.op_type == "ConvTranspose" and len(n.input) > 1
            and n.input[1] in consts and is_one_hot_shuffle(numpy_helper.to_array(consts[n.input[1]]))]


def conv_candidates(model: Any) -> list[tuple[str, list[str]]]:
    """Sensitivity candidates: each Conv (named), plus the output branch (everything after the last Conv:
    residual Add, pixel shuffle, anchor) as one group."""
    nodes = list(model.graph.node)
    shuffles = set(shuffle_nodes(model))
    convs = [n for n in nodes if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and n.name not in shuffles]
    cands: list[tuple[str, list[str]]] = [(n.name, [n.name]) for n in convs]
    if convs:
        last = max(i for i, n in enumerate(nodes) if n in convs)
        tail = [n.name for n in nodes[last + 1:] if n.op_type not in ("Constant",)]
        if tail:
            cands.append(("output_branch", tail))
    return cands


def io_layers(model: Any) -> list[str]:
    """Node names of the first conv and the output branch (last conv, residual add, pixel shuffle).

    Measured on x86 ORT (AVX2, no VNNI): these run slower in INT8 than in FP32 (3-channel input;
    large output tensors wrapped in Q/DQ), and they are the usual SR-sensitive layers.
    """
    import onnx

    proto = model if hasattr(model, "graph") else onnx.load(str(model))
    nodes = list(proto.graph.node)
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    if not convs:
        return []
    return [nodes[convs[0]].name] + [n.name for n in nodes[convs[-1]:] if n.op_type != "Constant"]


def quantize_onnx(fp32_onnx_path: str | os.PathLike[str], out_path: str | os.PathLike[str], calib: Any,
                  method: str = "percentile", *, per_channel: bool = True, activation_type: str = "uint8",
                  weight_type: str = "int8", reduce_range: bool | None = None,
                  nodes_to_exclude: Sequence[str] = (), guard: bool = True, threshold_db: float = 0.3,
                  holdout: float | int = 0.25, max_auto_exclude: int = 4, percentile: float = 99.999,
                  entropy_bins: int = 2048,
                  scale: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                  threads: int = 1, report_path: str | os.PathLike[str] | None = None,
                  guard_kernels: str = "cpu", **data_kwargs: Any) -> QuantReport:
    """FP32 ONNX -> INT8 Q/DQ ONNX (ORT static quantization, per-channel weights), guarded.

    ``calib``: folder / video / camera index / ``CalibrationSet`` / iterable of ``{input: array}``;
    ``data_kwargs`` (size, crop, max_frames, hr_scale) go to ``load_calibration``; frames of mixed sizes
    are centre-cropped to a common size (``common_size``). Defaults are
    U8S8 (uint8 activations, int8 weights): the fast pair on x86 ORT; TensorRT accepts the file too.
    ``reduce_range``: None = on for x86 CPUs without VNNI (ORT's advice). ``guard_kernels``: what the guard
    measures, ``"cpu"`` (ORT's fused INT8 kernels on this host) or ``"qdq"`` (the graph's Q/DQ arithmetic,
    host-independent; see ``guard.ort_session``). Returns a ``QuantReport``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quant_pre_process, quantize_static

    from edgesr.export.onnx import load_fp32_onnx, set_metadata

    t0 = time.perf_counter()
    src, out = Path(fp32_onnx_path), Path(out_path)
    method = method.lower()
    if guard_kernels not in KERNELS:
        raise ConfigError(f"unknown guard_kernels {guard_kernels!r}; use one of {', '.join(KERNELS)}")
    if method not in METHODS:
        raise ConfigError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
    proto, meta = load_fp32_onnx(src)
    inp = proto.graph.input[0]
    data = common_size(as_calibration_set(calib, inp.name, **data_kwargs))  # histogram calibrators need one size
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    for i, f in enumerate(data.frames):
        for ax in (2, 3):
            if dims[ax] is not None and f.shape[ax] != dims[ax]:
                raise DataError(f"calibration frame {i} is {f.shape[3]}x{f.shape[2]} but {src.name} has a fixed "
                                f"input of {dims[3]}x{dims[2]}; load the data with size=({dims[2]}, {dims[3]}) "
                                "or export with dynamic H/W")
    scale = scale or int(meta.get("edgesr.scale", 0)) or None
    if guard and not scale:
        raise ConfigError(f"{src.name} has no edgesr.scale metadata; pass scale=N (or guard=False)")
    if reduce_range is None:
        reduce_range = activation_type == "uint8" and not cpu_has_vnni()
    cal, held = data.split(holdout) if guard else (data, data)

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    opts = json.dumps({"m": method, "p": percentile if method == "percentile" else None,
                       "b": entropy_bins if method == "entropy" else None}, sort_keys=True)
    key = hashlib.sha256((_sha256(src) + cal.digest() + opts).encode()).hexdigest()[:32]
    range_cache = cache / f"ranges-{key}.json"
    report = QuantReport(str(out), method, activation_type, weight_type, per_channel, bool(reduce_range), len(cal),
                         len(held) if guard else 0, threshold_db, range_cache=str(range_cache),
                         range_cache_hit=range_cache.is_file())
    calib_method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                    "percentile": CalibrationMethod.Percentile}[method]
    extra = {"CalibPercentile": percentile} if method == "percentile" else {}

    with tempfile.TemporaryDirectory(prefix="edgesr-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # skip_symbolic_shape: the symbolic shape pass fails on dynamic-H/W SR graphs (measured, ORT 1.32)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        pre_proto = onnx.load(str(pre))

        def build(excluded: list[str], dst: Path) -> None:
            with contextlib.redirect_stdout(io.StringIO()):  # ORT's calibrators print() progress
                quantize_static(str(pre), str(dst), _Reader(cal), quant_format=QuantFormat.QDQ,
                                per_channel=per_channel, reduce_range=bool(reduce_range),
                                activation_type=_qtype(activation_type),
                                weight_type=_qtype(weight_type), nodes_to_exclude=list(excluded),
                                calibrate_method=calib_method, extra_options=dict(extra),
                                calibration_cache_path=str(range_cache))

        if method == "entropy" and not range_cache.is_file():
            _entropy_ranges(pre, cal, range_cache, Path(tmp), entropy_bins)
        excluded = list(nodes_to_exclude) + [n for n in shuffle_nodes(pre_proto) if n not in nodes_to_exclude]
        candidate = Path(tmp) / "int8.onnx"
        build(excluded, candidate)
        if guard:
            ref = session_fn(ort_session(src, threads))

            def measure(path: Path) -> Quality:
                int8 = session_fn(ort_session(path, threads, guard_kernels))
                return measure_quality(ref, int8, held, int(scale or 0))

            q = measure(candidate)
            report.attempts.append(Attempt(list(excluded), q.to_dict()))
            log.info("INT8 %s: drop %.3f dB on held-out frames (threshold %.2f dB)", method, q.drop_db, threshold_db)
            if q.drop_db > threshold_db:
                q = _repair(build, measure, pre_proto, excluded, q, threshold_db, max_auto_exclude, report,
                            Path(tmp))
                candidate = Path(tmp) / "int8.onnx"
                build(excluded, candidate)
            report.quality, report.passed = q.to_dict(), q.drop_db <= threshold_db
        report.excluded_nodes = excluded
        final = onnx.load(str(candidate))
        set_metadata(final, {
            **meta, "edgesr.precision": "int8", "edgesr.int8.method": method,
            "edgesr.int8.types": f"{activation_type}/{weight_type}{'/reduce_range' if reduce_range else ''}",
            "edgesr.int8.excluded": json.dumps(excluded),
            "edgesr.int8.quality": json.dumps(report.quality) if report.quality else "",
        })
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = Path(tmp) / "final.onnx"
        onnx.save(final, str(tmp_out))
        shutil.move(str(tmp_out), str(out))
    report.seconds = time.perf_counter() - t0
    (log.info if report.passed is not False else log.warning)(report.summary())
    if report_path is not None:
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _entropy_ranges(pre: Path, cal: CalibrationSet, cache: Path, tmp: Path, bins: int) -> None:
    """KL-divergence ranges with ``bins`` histogram bins into 128 quantized bins (TensorRT's
    entropy calibrator). Needed because ``quantize_static`` creates its entropy calibrator with
    128 bins for 128 quantized bins, which can never clip: measured identical to MinMax (ORT 1.32)."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    calibrator = create_calibrator(pre, None, augmented_model_path=str(tmp / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": bins, "num_quantized_bins": 128})
    with contextlib.redirect_stdout(io.StringIO()):
        calibrator.collect_data(_Reader(cal))
        ranges = calibrator.compute_data()
    save_tensors_data(ranges, cache)


def _repair(build: Any, measure: Any, pre_proto: Any, excluded: list[str], q: Quality, threshold_db: float,
            max_auto_exclude: int, report: QuantReport, tmp: Path) -> Quality:
    """Per-layer sensitivity (keep one candidate in float at a time), then greedy exclusion."""
    from tqdm import tqdm

    cands = [(name, nodes) for name, nodes in conv_candidates(pre_proto) if not set(nodes) <= set(excluded)]
    log.warning("INT8 drop %.3f dB > %.2f dB: measuring the sensitivity of %d layers", q.drop_db, threshold_db,
                len(cands))
    path = tmp / "probe.onnx"
    for name, nodes in tqdm(cands, desc="INT8 sensitivity", unit="layer", leave=False):
        build(excluded + [n for n in nodes if n not in excluded], path)
        report.sensitivity[name] = measure(path).drop_db
    order = sorted(cands, key=lambda c: report.sensitivity[c[0]])
    for name, nodes in order[:max_auto_exclude]:
        if q.drop_db <= threshold_db:
            break
        excluded.extend(n for n in nodes if n not in excluded)
        report.auto_excluded.append(name)
        build(excluded, path)
        q = measure(path)
        report.attempts.append(Attempt(list(excluded), q.to_dict()))
        log.warning("kept %s in float: drop now %.3f dB", name, q.drop_db)
    return q
