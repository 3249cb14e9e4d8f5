"""FP32 ONNX -> FP16 ONNX with float32 I/O, plus a measured overflow check.

Why float32 I/O: the runtime's pre/post-processing and every backend binding stay the same for
fp32 and fp16 files (TensorRT >= 11 strongly typed networks, ORT CUDA). Why the check: FP16
saturates at 65504 and flushes magnitudes below 6e-8 to zero; the only trustworthy way to know
whether an SR network's activations fit is to run the FP32 model on real calibration frames.
The converter is ONNX Runtime's own (``onnxruntime.transformers.float16``), so no extra dependency.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesr.fileio import atomic_path

from .dataset import as_calibration_set

log = logging.getLogger(__name__)

FP16_MAX = 65504.0
FP16_TINY = 5.96e-08  # smallest positive subnormal


@dataclass
class Fp16Report:
    output: str
    checked_frames: int = 0
    activation_absmax: dict[str, float] = field(default_factory=dict)  # per tensor, over the data
    overflow_activations: list[str] = field(default_factory=list)  # |x| > 65504
    overflow_weights: list[str] = field(default_factory=list)
    underflow_weights: dict[str, int] = field(default_factory=dict)  # initializer -> #nonzeros that become 0
    kept_fp32_nodes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.overflow_activations or self.overflow_weights) or bool(self.kept_fp32_nodes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def activation_absmax(model_path: str | os.PathLike[str], data: Any, threads: int = 1) -> dict[str, float]:
    """Max |value| of every float tensor in the graph over the calibration data (FP32 run)."""
    import onnx

    from .guard import ort_session

    proto = onnx.load(str(model_path))
    have = {o.name for o in proto.graph.output}
    for node in proto.graph.node:
        for name in node.output:
            if name and name not in have:
                proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
                have.add(name)
    sess = ort_session(proto.SerializeToString(), threads)
    names = [o.name for o in sess.get_outputs()]
    amax: dict[str, float] = {}
    for item in data:
        for name, val in zip(names, sess.run(None, item)):
            a = np.asarray(val)
            if a.size and np.issubdtype(a.dtype, np.floating):
                amax[name] = max(amax.get(name, 0.0), float(np.max(np.abs(a))))
    return amax


def to_fp16(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], calib: Any = None, *,
            keep_overflow_fp32: bool = True, threads: int = 1, **data_kwargs: Any) -> Fp16Report:
    """Convert to FP16 (I/O stay float32). With ``calib`` data, check activations against the FP16
    range first; overflowing nodes are kept in FP32 (``keep_overflow_fp32``) and reported."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from edgesr.export.onnx import load_fp32_onnx, set_metadata

    src, out = Path(in_path), Path(out_path)
    proto, meta = load_fp32_onnx(src)
    report = Fp16Report(str(out))
    for init in proto.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        w = np.abs(numpy_helper.to_array(init))
        if w.size and float(w.max()) > FP16_MAX:
            report.overflow_weights.append(init.name)
        n_under = int(np.count_nonzero((w > 0) & (w < FP16_TINY)))
        if n_under:
            report.underflow_weights[init.name] = n_under
    block: list[str] = []
    if calib is not None:
        data = as_calibration_set(calib, proto.graph.input[0].name, **data_kwargs)
        report.checked_frames = len(data)
        report.activation_absmax = activation_absmax(src, data, threads)
        report.overflow_activations = sorted(k for k, v in report.activation_absmax.items() if v > FP16_MAX)
    bad = set(report.overflow_activations)
    if (bad or report.overflow_weights) and keep_overflow_fp32:
        wbad = set(report.overflow_weights)
        block = [n.name for n in proto.graph.node if bad & set(n.output) or wbad & set(n.input)]
        report.kept_fp32_nodes = block
    if report.overflow_activations or report.overflow_weights:
        log.warning("FP16 overflow: activations %s, weights %s; %s", report.overflow_activations,
                    report.overflow_weights, f"kept in FP32: {block}" if block else "NOT fixed (keep_overflow_fp32=False)")
    if report.underflow_weights:
        log.info("FP16: %d weight values flush to zero", sum(report.underflow_weights.values()))
    fp16 = convert_float_to_float16(proto, keep_io_types=True, node_block_list=block or None)
    set_metadata(fp16, {**meta, "edgesr.precision": "fp16",
                        "edgesr.fp16.kept_fp32": json.dumps(block)})
    with atomic_path(out, suffix=".onnx") as tmp:
        onnx.save(fp16, str(tmp))
    log.info("FP16 model written to %s (checked on %d frames)", out, report.checked_frames)
    return report
