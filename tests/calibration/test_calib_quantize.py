"""quantize_onnx: each method, the guard's fallback path, metadata, error messages; to_fp16.

Host-independent: every build passes ``reduce_range=False`` (its default follows the CPU's VNNI) and the guard
and checks run the Q/DQ graph's own arithmetic (``guard_kernels="qdq"``, no fused INT8 kernels), so no
assertion depends on which INT8 kernels this CPU has."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgesr.calibration import CalibrationSet, frame_to_nchw, quantize_onnx, to_fp16
from edgesr.calibration.guard import ort_session
from edgesr.errors import ConfigError, DataError
from edgesr.hub import bundled_model_by_name

HOST_FREE = dict(reduce_range=False, guard_kernels="qdq")


def _qdq(path: Path) -> object:
    return ort_session(path, kernels="qdq")


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    import edgesr
    from edgesr.export.onnx import export_onnx

    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", scale=2, n_feats=8, n_blocks=2).eval()
    return export_onnx(m, tmp_path_factory.mktemp("q") / "m.onnx")


@pytest.fixture(scope="module")
def calib(photo: np.ndarray) -> CalibrationSet:
    crops = [photo[y:y + 48, x:x + 48] for y, x in [(0, 0), (100, 200), (200, 100), (300, 300), (400, 50)]]
    return CalibrationSet([frame_to_nchw(c) for c in crops])


def _qdq_counts(path: Path) -> tuple[int, int]:
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    return ops.count("QuantizeLinear"), ops.count("DequantizeLinear")


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_each_method_writes_qdq_that_runs(method: str, fp32_onnx: Path, calib: CalibrationSet,
                                          tmp_path: Path) -> None:
    out = tmp_path / f"{method}.onnx"
    r = quantize_onnx(fp32_onnx, out, calib, method, cache_dir=tmp_path, **HOST_FREE)
    q, dq = _qdq_counts(out)
    assert q > 0 and dq > q  # activations Q/DQ + per-channel weight DQ
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["edgesr.precision"] == "int8" and meta["edgesr.int8.method"] == method
    assert meta["edgesr.scale"] == "2"
    assert r.passed and r.quality is not None and r.calib_frames == 4 and r.holdout_frames == 1
    assert r.quality["psnr_vs_fp32"] > 35 and abs(r.quality["drop_db"]) < 0.3
    x = calib.frames[0]
    y8 = _qdq(out).run(None, {"input": x})[0]
    y32 = ort_session(fp32_onnx).run(None, {"input": x})[0]
    assert y8.shape == (1, 3, 96, 96) and 0 < np.abs(y8 - y32).max() < 0.1  # quantized, yet close


def test_range_cache_reused(fp32_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    a = quantize_onnx(fp32_onnx, tmp_path / "a.onnx", calib, guard=False, cache_dir=tmp_path, **HOST_FREE)
    b = quantize_onnx(fp32_onnx, tmp_path / "b.onnx", calib, guard=False, cache_dir=tmp_path, **HOST_FREE)
    assert not a.range_cache_hit and b.range_cache_hit and a.range_cache == b.range_cache
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


@pytest.fixture(scope="module")
def nano_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled, trained edge_nano_x2: damage to it lowers PSNR on any CPU (a random net's may not)."""
    import edgesr
    from edgesr.export.onnx import export_onnx

    return export_onnx(edgesr.load_model(bundled_model_by_name("edge_nano_x2", format="pt")).eval(),
                       tmp_path_factory.mktemp("nano") / "nano.onnx")


def _damage_range(cache: Path, tensor: str, factor: float) -> None:
    """Shrink one tensor's cached calibration range: its Q/DQ then clips, a loss no CPU kernel can hide."""
    ranges = json.loads(cache.read_text())
    for end in ("lowest", "highest"):
        v = ranges["data"][tensor][end]["data"]
        ranges["data"][tensor][end]["data"] = [x * factor for x in v]
    cache.write_text(json.dumps(ranges))


def test_guard_fallback_excludes_sensitive_layers(nano_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    """The guard must find the layer whose INT8 form breaks the output and keep it in float.

    Hardware-independent by construction: the input's calibrated range is cut to 30 %, so the first
    conv's quantized input clips (about 14 dB lost, measured on AVX2 and AVX-512 VNNI alike), and only
    keeping that conv in float removes the clipping Q/DQ. An INT8 loss measured on an undamaged model
    depends on the CPU's kernels (0.0013 dB with VNNI) and cannot be relied on to exceed a threshold.
    """
    first = quantize_onnx(nano_onnx, tmp_path / "a.onnx", calib, "minmax", cache_dir=tmp_path, **HOST_FREE)
    assert first.quality is not None and first.passed and not first.auto_excluded
    _damage_range(Path(first.range_cache), "input", 0.3)
    r = quantize_onnx(nano_onnx, tmp_path / "g.onnx", calib, "minmax", cache_dir=tmp_path,
                      report_path=tmp_path / "g.json", **HOST_FREE)
    assert r.range_cache_hit and r.attempts[0].quality["drop_db"] > 3.0  # the damage is seen
    assert r.auto_excluded == ["/model/head/Conv"] and r.passed and r.quality is not None
    assert r.quality["drop_db"] <= r.threshold_db
    assert len(r.sensitivity) == 5 and len(r.attempts) == 1 + len(r.auto_excluded)
    assert min(r.sensitivity, key=r.sensitivity.__getitem__) == "/model/head/Conv"
    names = {n.name for n in onnx.load(str(tmp_path / "g.onnx")).graph.node}
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "g.onnx")).metadata_props}
    assert set(json.loads(meta["edgesr.int8.excluded"])) == set(r.excluded_nodes)
    conv_in_float = [n for n in r.excluded_nodes if n.endswith("/Conv")]
    assert conv_in_float == ["/model/head/Conv"] and all(c in names for c in conv_in_float)
    assert json.loads((tmp_path / "g.json").read_text())["auto_excluded"] == r.auto_excluded


def test_errors(fp32_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use one of minmax, entropy, percentile"):
        quantize_onnx(fp32_onnx, tmp_path / "x.onnx", calib, "kl", **HOST_FREE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        quantize_onnx(fp32_onnx, tmp_path / "x.onnx", tmp_path / "empty", **HOST_FREE)
    with pytest.raises(ConfigError, match="guard_kernels"):
        quantize_onnx(fp32_onnx, tmp_path / "x.onnx", calib, guard_kernels="vnni")


def test_fixed_shape_model_rejects_other_sizes(calib: CalibrationSet, tmp_path: Path) -> None:
    import torch

    import edgesr
    from edgesr.export.onnx import export_onnx

    m = edgesr.create_model("edge_tiny", scale=2, n_feats=8, n_blocks=2).eval()
    fixed = export_onnx(m, tmp_path / "fixed.onnx", shape=(1, 3, 32, 32))
    with pytest.raises(DataError, match=r"size=\(32, 32\)"):
        quantize_onnx(fixed, tmp_path / "x.onnx", calib, **HOST_FREE)
    del torch


def test_fp16_keeps_float32_io_and_matches(fp32_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    out = tmp_path / "m16.onnx"
    rep = to_fp16(fp32_onnx, out, calib)
    p = onnx.load(str(out))
    assert p.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert p.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in p.graph.initializer)
    assert rep.ok and rep.checked_frames == 5 and not rep.overflow_activations
    assert 0 < max(rep.activation_absmax.values()) < 100
    x = calib.frames[1]
    y16 = ort_session(out).run(None, {"input": x})[0]
    y32 = ort_session(fp32_onnx).run(None, {"input": x})[0]
    assert y16.dtype == np.float32 and np.abs(y16 - y32).max() < 1e-2


def test_fp16_overflow_is_reported_and_kept_fp32(fp32_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    from onnx import numpy_helper

    p = onnx.load(str(fp32_onnx))
    head = next(n for n in p.graph.node if n.op_type == "Conv")
    for init in p.graph.initializer:
        if init.name == head.input[1]:  # activations far beyond 65504 after the first conv
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1e5, init.name))
    src = tmp_path / "big.onnx"
    onnx.save(p, str(src))
    rep = to_fp16(src, tmp_path / "big16.onnx", calib)
    assert rep.overflow_activations and head.name in rep.kept_fp32_nodes
    meta = {m.key: m.value for m in onnx.load(str(tmp_path / "big16.onnx")).metadata_props}
    assert json.loads(meta["edgesr.fp16.kept_fp32"]) == rep.kept_fp32_nodes
    y = ort_session(tmp_path / "big16.onnx").run(None, {"input": calib.frames[0]})[0]
    assert np.isfinite(y).all()


def test_entropy_is_not_minmax(fp32_onnx: Path, calib: CalibrationSet, tmp_path: Path) -> None:
    """ORT's quantize_static builds its entropy calibrator with 128 bins for 128 levels (never clips);
    ours uses 2048 bins, so some activation range must be tighter than MinMax's."""
    from onnx import numpy_helper

    def scales(method: str) -> dict[str, float]:
        out = tmp_path / f"{method}.onnx"
        quantize_onnx(fp32_onnx, out, calib, method, guard=False, cache_dir=tmp_path, **HOST_FREE)
        return {i.name: float(numpy_helper.to_array(i).max()) for i in onnx.load(str(out)).graph.initializer
                if i.name.endswith("_scale") and numpy_helper.to_array(i).size == 1}

    mm, en = scales("minmax"), scales("entropy")
    assert mm.keys() == en.keys()
    assert any(en[k] < 0.99 * mm[k] for k in mm)
