"""ONNX export: every family/scale round-trips with dynamic H/W, metadata, static shapes,
simplifier fallback, and parity that fails loudly."""
from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgesr.data import to_tensor
from edgesr.errors import ConfigError
from edgesr.export import META_KEYS, ParityError, check_parity, export_onnx, graph_precision, read_metadata
from edgesr.export.onnx import simplify_onnx, unsupported_trt_ops
from edgesr.precision import Precision


def _ort(path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_round_trip_every_model_dynamic(any_tiny_model, small_photo, tmp_path):
    model = any_tiny_model
    path = export_onnx(model, tmp_path / "m.onnx", image=small_photo)
    meta = read_metadata(path)
    assert set(META_KEYS) <= set(meta)
    assert meta["edgesr.scale"] == str(model.scale) and meta["edgesr.precision"] == "fp32"
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    if model.family == "edge":  # pixel shuffle as a one-hot ConvTranspose (export_form), else DepthToSpace
        from edgesr.calibration.quantize import shuffle_nodes

        assert "DepthToSpace" not in ops and len(shuffle_nodes(proto)) == 1
    else:
        assert "DepthToSpace" in ops
    assert unsupported_trt_ops(proto) == []
    if model.name.startswith("drn"):  # internal bicubic -> Resize(cubic, half_pixel, a=-0.75)
        rs = [n for n in proto.graph.node if n.op_type == "Resize"]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in rs[0].attribute}
        assert attrs["mode"] == b"cubic" and attrs["coordinate_transformation_mode"] == b"half_pixel"
        assert attrs["cubic_coeff_a"] == pytest.approx(-0.75)
    # two different H/W (and a non-square, odd size) through the same file
    for (y, x, h, w) in [(0, 0, 24, 40), (10, 30, 33, 20)]:
        inp = to_tensor(small_photo[y:y + h, x:x + w]).unsqueeze(0)
        with torch.no_grad():
            ref = model(inp).numpy()
        out = _ort(path, inp.numpy())
        assert out.shape == (1, 3, h * model.scale, w * model.scale)
        np.testing.assert_allclose(out, ref, atol=1e-3)
    report = check_parity(model, path, small_photo)
    assert report.passed and report.max_abs_diff < 1e-3 and report.psnr > 60


def test_static_shape(edge_x2, small_photo, tmp_path):
    path = export_onnx(edge_x2, tmp_path / "s.onnx", shape=(1, 3, 24, 32), image=small_photo)
    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 24, 32]
    assert _ort(path, np.random.rand(1, 3, 24, 32).astype(np.float32)).shape == (1, 3, 48, 64)
    with pytest.raises(Exception):  # ORT rejects another size for a static model
        _ort(path, np.random.rand(1, 3, 30, 32).astype(np.float32))
    with pytest.raises(ConfigError):
        export_onnx(edge_x2, tmp_path / "bad.onnx", shape=(1, 3, 24))  # type: ignore[arg-type]


def test_simplify_falls_back_to_onnxslim_then_none(edge_x2, small_photo, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxsim", None)  # onnxsim cannot be imported
    path = export_onnx(edge_x2, tmp_path / "slim.onnx", image=small_photo)
    assert read_metadata(path)["edgesr.simplifier"] == "onnxslim"
    monkeypatch.setitem(sys.modules, "onnxslim", None)
    with caplog.at_level(logging.WARNING):
        path2 = export_onnx(edge_x2, tmp_path / "none.onnx", image=small_photo)
    assert read_metadata(path2)["edgesr.simplifier"] == "none"
    assert any("unsimplified" in r.getMessage() for r in caplog.records)
    onnx.checker.check_model(onnx.load(str(path2)))
    proto, how = simplify_onnx(onnx.load(str(path2)))
    assert how == "none" and read_metadata(proto)["edgesr.scale"] == "2"


def test_broken_parity_fails_loudly(edge_x2, small_photo, tmp_path):
    path = export_onnx(edge_x2, tmp_path / "ok.onnx", image=small_photo)
    import copy

    perturbed = copy.deepcopy(edge_x2)
    with torch.no_grad():
        for p in perturbed.parameters():
            p.add_(0.05)
    report = check_parity(perturbed, path, small_photo)
    assert not report.passed and report.max_abs_diff > 1e-3
    with pytest.raises(ParityError, match="does not match PyTorch"):
        report.raise_if_failed()
    # export itself refuses and leaves no file behind when parity fails (an impossible tolerance)
    target = tmp_path / "never.onnx"
    with pytest.raises(ParityError):
        export_onnx(edge_x2, target, image=small_photo, atol=-1.0)
    assert not target.exists() and not list(tmp_path.glob(".never.onnx*"))


def test_graph_precision(edge_x2, tmp_path):
    path = export_onnx(edge_x2, tmp_path / "p.onnx", verify=False)
    assert graph_precision(path) == Precision.FP32
    h = onnx.helper
    x16 = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT16, [1])
    m16 = h.make_model(h.make_graph([h.make_node("Identity", ["x"], ["y"])], "g", [x16],
                                    [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT16, [1])]))
    assert graph_precision(m16) == Precision.FP16
    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    q = h.make_graph([h.make_node("QuantizeLinear", ["x", "s"], ["q"]), h.make_node("DequantizeLinear", ["q", "s"], ["y"])],
                     "g", [x], [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
                     [h.make_tensor("s", onnx.TensorProto.FLOAT, [], [0.1])])
    assert graph_precision(h.make_model(q)) == Precision.INT8


def test_import_and_help_stay_light():
    code = ("import sys\nimport edgesr, edgesr.export\nfrom edgesr.cli import main\n"
            "for argv in (['--help'], ['export', '--help'], ['export', 'trt', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "bad = [m for m in ('onnxruntime', 'tensorrt') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]


def test_cli_export_onnx_end_to_end(edge_x2, small_photo, tmp_path, capsys):
    import cv2

    import edgesr
    from edgesr.cli import main

    ckpt = edgesr.save_model(edge_x2, tmp_path / "tiny.pt")
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), small_photo[..., ::-1])
    out = tmp_path / "tiny.onnx"
    assert main(["export", "onnx", str(ckpt), "-o", str(out), "--shape", "1x3x24x32", "--image", str(img)]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and "PSNR" in printed and "OK" in printed
    assert read_metadata(out)["edgesr.scale"] == "2"
    assert [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim] == [1, 3, 24, 32]
    # options that do not apply are errors, not silently ignored
    assert main(["export", "onnx", str(ckpt), "-o", str(tmp_path / "x.onnx"), "--calib", str(img)]) == 2
    assert main(["export", "onnx", str(ckpt), "-o", str(tmp_path / "y.onnx"), "--int8"]) == 2
    assert "--calib" in capsys.readouterr().err
