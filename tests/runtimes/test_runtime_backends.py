"""Backends directly: suffix table, buffer reuse, provider choice, CUDA memory layer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgesr.errors import ConfigError, MissingDependencyError, ModelFormatError
from edgesr.runtimes import backend_for, open_backend
from edgesr.runtimes.ort import CPU, CUDA, resolve_providers


def test_suffix_table_and_override(edge_x2: torch.nn.Module) -> None:
    assert backend_for("a.onnx") == "onnxruntime"
    assert backend_for("a.engine") == backend_for("a.PLAN") == "tensorrt"
    assert backend_for("a.pt") == backend_for(edge_x2) == "pytorch"
    assert backend_for("a.onnx", "torch") == "pytorch"
    with pytest.raises(ModelFormatError, match="suffix"):
        backend_for("a.bin")
    with pytest.raises(ConfigError, match="did you mean 'tensorrt'"):
        backend_for("a.onnx", "tensorrtt")


def test_ort_buffers_reused_and_exact(edge_x2: torch.nn.Module, tmp_path: Path) -> None:
    from edgesr.export import export_onnx

    p = export_onnx(edge_x2, tmp_path / "m.onnx")
    with open_backend(p) as b:
        x = np.random.default_rng(0).random((1, 3, 24, 20), np.float32)
        inp, out = b.buffers(x.shape)
        inp[...] = x
        y = b.run(inp)
        assert y is out and b.buffers(x.shape)[0] is inp
        np.testing.assert_array_equal(y, b.session.run(None, {"input": x})[0])
        inp[...] = x[..., ::-1]  # new content through the same bound buffers
        np.testing.assert_array_equal(b.run(inp), b.session.run(None, {"input": np.ascontiguousarray(x[..., ::-1])})[0])
        np.testing.assert_array_equal(b.run(x), y)  # a foreign array is copied in
        assert b.info()["providers"] == [CPU]


def test_provider_resolution() -> None:
    assert resolve_providers(None, None, [CPU]) == [CPU]
    assert resolve_providers("auto", None, [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
        resolve_providers(None, "cuda", [CPU])


def test_ort_session_is_the_one_session_builder(edge_x2: torch.nn.Module, tmp_path: Path) -> None:
    """Path or bytes, threads, graph optimization level and extra SessionOptions, all through one function."""
    from edgesr.export import export_onnx
    from edgesr.runtimes.ort import ort_session

    p = export_onnx(edge_x2, tmp_path / "m.onnx")
    x = np.random.default_rng(0).random((1, 3, 16, 12), np.float32)
    ref = ort_session(p).run(None, {"input": x})[0]
    opt = tmp_path / "opt.onnx"
    for s in (ort_session(p.read_bytes(), threads=1), ort_session(p, level="basic"), ort_session(p, level="disable"),
              ort_session(p, threads=2, options={"optimized_model_filepath": str(opt)})):
        assert s.get_providers() == [CPU]
        np.testing.assert_allclose(s.run(None, {"input": x})[0], ref, atol=1e-5)
    assert opt.is_file()
    with pytest.raises(ConfigError, match="graph optimization level 'fast'"):
        ort_session(p, level="fast")
    with pytest.raises(ConfigError, match="no option 'intra_threads'"):
        ort_session(p, options={"intra_threads": 2})
    import onnxruntime

    if CUDA not in onnxruntime.get_available_providers():  # providers resolve as the backend's do
        with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
            ort_session(p, device="cuda")


def test_pytorch_backend_leaves_callers_module_alone(edge_x2: torch.nn.Module) -> None:
    edge_x2.train()
    with open_backend(edge_x2, device="cpu") as b:
        assert b.model is not edge_x2 and not b.model.training
        x = np.random.default_rng(0).random((1, 3, 16, 16), np.float32)
        with torch.no_grad():
            ref = edge_x2.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(b.run(x), ref, atol=1e-6)
    assert next(edge_x2.parameters()).requires_grad
    with pytest.raises(ConfigError, match="fp16 on CPU"):
        open_backend(edge_x2, device="cpu", precision="fp16")


def test_import_runtimes_stays_light() -> None:
    code = "import sys, edgesr, edgesr.runtimes, edgesr.upscaler; print('onnxruntime' in sys.modules, 'tensorrt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_memory_layer_choice_errors() -> None:
    from edgesr.runtimes.memory import open_memory

    with pytest.raises(ConfigError, match="cuda-python"):
        open_memory("cupy")


def test_cuda_python_without_gpu_is_a_clear_error() -> None:
    from edgesr.runtimes.memory import CudaError, self_test

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: test_memory_round_trip covers the real path")
    with pytest.raises((CudaError, MissingDependencyError), match="driver|cuda-python"):
        self_test("cuda-python")


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["cuda-python", "pycuda"])
def test_memory_round_trip(impl: str) -> None:
    from edgesr.runtimes.memory import self_test

    if impl == "pycuda":
        pytest.importorskip("pycuda.driver")
    r = self_test(impl, nbytes=1 << 20)
    assert r["ok"] and r["impl"] == impl and r["h2d_gbps"] > 0


def test_buffers_per_shape_are_bounded_and_rebound(tmp_path, edge_x2):
    """Many frame sizes (a folder of photos) keep at most max_shapes buffer sets; an evicted shape
    that comes back is re-allocated and re-bound, and still gives the right answer."""
    import numpy as np
    import torch

    from edgesr.export import export_onnx
    from edgesr.runtimes.ort import OrtBackend

    path = export_onnx(edge_x2, tmp_path / "m.onnx", verify=False)
    with OrtBackend(path) as be:
        be.max_shapes = 2
        xs = {h: np.random.default_rng(h).random((1, 3, h, 10), dtype=np.float32) for h in (8, 9, 10)}
        for h in (8, 9, 10, 8):
            y = be.run(xs[h]).copy()
            with torch.no_grad():
                ref = edge_x2(torch.from_numpy(xs[h])).numpy()
            np.testing.assert_allclose(y, ref, atol=1e-4)
        assert len(be._buffers) == 2 and len(be._bindings) == 2
