"""export_triton: the repository layout, a parsed config.pbtxt, and the copied ONNX still runs."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgesr.errors import ConfigError
from edgesr.export.onnx import export_onnx
from edgesr.export.triton import export_triton

from conftest import tiny_model  # type: ignore[import-not-found]


def parse_pbtxt(text: str) -> dict[str, Any]:
    """Minimal protobuf text-format reader: repeated fields become lists."""
    toks = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,]+', text)
    pos = 0

    def value() -> Any:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == "{":
            return message("}")
        if t == "[":
            items = []
            while toks[pos] != "]":
                items.append(value())
                if toks[pos] == ",":
                    pos += 1
            pos += 1
            return items
        if t.startswith('"'):
            return t[1:-1]
        return int(t) if re.fullmatch(r"-?\d+", t) else t

    def message(end: str | None) -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(toks) and toks[pos] != end:
            key = toks[pos]
            pos += 1
            if toks[pos] == ":":
                pos += 1
            out.setdefault(key, []).append(value())
        pos += 1
        return out

    return message(None)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tiny_model("edge", 2), tmp_path_factory.mktemp("tr") / "sr model.onnx")


def test_repository_layout_and_config(onnx_path: Path, tmp_path: Path) -> None:
    d = export_triton(onnx_path, tmp_path / "repo", max_batch_size=4, instances=2)
    assert d == tmp_path / "repo" / "sr_model"
    assert sorted(p.relative_to(d).as_posix() for p in d.rglob("*")) == ["1", "1/model.onnx", "config.pbtxt"]
    cfg = parse_pbtxt((d / "config.pbtxt").read_text())
    assert cfg["name"] == ["sr_model"] and cfg["platform"] == ["onnxruntime_onnx"]
    assert cfg["max_batch_size"] == [4]
    (inp,), (out,) = cfg["input"][0], cfg["output"][0]
    assert inp == {"name": ["input"], "data_type": ["TYPE_FP32"], "dims": [[3, -1, -1]]}
    assert out == {"name": ["output"], "data_type": ["TYPE_FP32"], "dims": [[3, -1, -1]]}
    assert "dynamic_batching" in cfg
    assert cfg["instance_group"][0][0]["count"] == [2]
    params = {p["key"][0]: p["value"][0]["string_value"][0] for p in cfg["parameters"]}
    assert params["edgesr.scale"] == "2" and params["edgesr.precision"] == "fp32"


def test_copied_onnx_runs_batched_at_any_size(onnx_path: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    d = export_triton(onnx_path, tmp_path / "repo", name="sr")
    x = np.random.default_rng(0).random((3, 3, 37, 53), dtype=np.float32)
    a = ort.InferenceSession(str(d / "1" / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    b = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert a.shape == (3, 3, 74, 106)
    np.testing.assert_array_equal(a, b)


def test_fixed_batch_model_needs_max_batch_zero(tmp_path: Path) -> None:
    fixed = export_onnx(tiny_model("edge", 2), tmp_path / "fixed.onnx", shape=(1, 3, 32, 48))
    with pytest.raises(ConfigError, match="fixed batch"):
        export_triton(fixed, tmp_path / "repo")
    d = export_triton(fixed, tmp_path / "repo", max_batch_size=0)
    cfg = parse_pbtxt((d / "config.pbtxt").read_text())
    assert cfg["max_batch_size"] == [0] and "dynamic_batching" not in cfg
    assert cfg["input"][0][0]["dims"] == [[1, 3, 32, 48]]
    assert cfg["output"][0][0]["dims"] == [[1, 3, 64, 96]]
