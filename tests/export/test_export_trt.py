"""TensorRT export logic without TensorRT (profiles, plans, sidecars, cache keys, feature detection,
missing-dependency errors) plus `trt`/`gpu` tests that really build an engine (skipped without them)."""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from edgesr.errors import ConfigError, EngineMismatchError, MissingDependencyError, ModelFormatError
from edgesr.export import trt as et
from edgesr.export import trt_compat as tc
from edgesr.precision import Precision

# ---------------------------------------------------------------- feature detection on API look-alikes
# Small objects exposing the names each TensorRT generation has (only the detection logic uses them).


def _surface(*, version, explicit=True, strongly=True, flags=True, calib=True, pool=True, tensor_api=True):
    ncf = SimpleNamespace(**({"EXPLICIT_BATCH": 0} if explicit else {}), **({"STRONGLY_TYPED": 1} if strongly else {}))
    bf = SimpleNamespace(GPU_FALLBACK=3, **({"FP16": 0, "INT8": 1} if flags else {}))
    cfg = type("IBuilderConfig", (), {"create_timing_cache": None, "set_timing_cache": None,
                                      **({"int8_calibrator": None} if calib else {}),
                                      **({"set_memory_pool_limit": None} if pool else {})})
    eng = type("ICudaEngine", (), {"num_io_tensors": 0} if tensor_api else {"num_bindings": 0})
    ctx = type("IExecutionContext", (), {"set_input_shape": None, "execute_async_v3": None, "set_tensor_address": None}
               if tensor_api else {"execute_async_v2": None, "set_binding_shape": None})
    mod = SimpleNamespace(__version__=version, NetworkDefinitionCreationFlag=ncf, BuilderFlag=bf, IBuilderConfig=cfg,
                          ICudaEngine=eng, IExecutionContext=ctx, DeviceType=SimpleNamespace(GPU=0, DLA=1),
                          MemoryPoolType=SimpleNamespace(WORKSPACE=0))
    if calib:
        mod.IInt8EntropyCalibrator2 = object
    return mod


TRT85 = _surface(version="8.5.2", strongly=False)
TRT84_LEGACY = _surface(version="8.2.1", strongly=False, pool=False, tensor_api=False)
TRT10 = _surface(version="10.3.0")
TRT11 = _surface(version="11.0.0", explicit=False, flags=False, calib=False)


def test_detect_feature_sets():
    f85, f10, f11, fold = (tc.detect(m) for m in (TRT85, TRT10, TRT11, TRT84_LEGACY))
    assert f85.explicit_batch_flag and f85.precision_flags and f85.calibrator and not f85.strongly_typed
    assert f85.tensor_api and f85.execute_v3 and f85.memory_pool and f85.dla
    assert f10.strongly_typed and f10.precision_flags and not f10.precision_from_graph
    assert f11.precision_from_graph and not f11.calibrator and not f11.explicit_batch_flag
    assert not fold.tensor_api and not fold.execute_v3 and not fold.memory_pool
    assert tc.detect(SimpleNamespace()).version == "unknown"


def test_plan_weakly_typed_versions():
    for mod in (TRT85, TRT10):
        f = tc.detect(mod)
        assert tc.plan_build(f, "fp32", "fp32") == tc.BuildPlan(Precision.FP32, False, (), False, None)
        assert tc.plan_build(f, "fp16", "fp32").builder_flags == ("FP16",)
        qdq = tc.plan_build(f, "int8", "int8")
        assert qdq.builder_flags == ("INT8", "FP16") and not qdq.calibrator and qdq.convert is None
        legacy = tc.plan_build(f, "int8", "fp32", has_calib=True)
        assert legacy.calibrator and legacy.convert is None
        with pytest.raises(ConfigError, match="--calib"):
            tc.plan_build(f, "int8", "fp32")
    assert tc.plan_build(tc.detect(TRT85), None, "fp16").precision == Precision.FP16  # from the graph


def test_plan_strongly_typed_trt11():
    f = tc.detect(TRT11)
    assert tc.plan_build(f, "fp32", "fp32") == tc.BuildPlan(Precision.FP32, True, (), False, None)
    assert tc.plan_build(f, "fp16", "fp32").convert == "fp16"
    assert tc.plan_build(f, "fp16", "fp16").convert is None
    assert tc.plan_build(f, "int8", "fp32", has_calib=True).convert == "qdq"
    plan = tc.plan_build(f, "int8", "int8")
    assert plan.strongly_typed and plan.builder_flags == () and not plan.calibrator
    with pytest.raises(ConfigError, match="Q/DQ"):
        tc.plan_build(f, "int8", "fp32")


def test_plan_rejects_what_does_not_apply():
    f = tc.detect(TRT10)
    with pytest.raises(ConfigError, match="already fp16"):
        tc.plan_build(f, "int8", "fp16")
    with pytest.raises(ConfigError, match="DLA runs fp16 or int8"):
        tc.plan_build(f, "fp32", "fp32", dla=True)
    assert "GPU_FALLBACK" in tc.plan_build(f, "fp16", "fp32", dla=True).builder_flags
    with pytest.raises(ConfigError, match="unknown precision"):
        tc.plan_build(f, "fp8", "fp32")


# ---------------------------------------------------------------- profiles / shapes


def test_parse_shape():
    assert et.parse_shape("1x3x360x640") == (1, 3, 360, 640)
    assert et.parse_shape("1,3,180,320") == (1, 3, 180, 320)
    for bad in ("1x3x360", "ax3x3x3", "0x3x4x4"):
        with pytest.raises(ConfigError):
            et.parse_shape(bad)


def test_default_profile_covers_landscape_and_portrait():
    p = et.resolve_profile((None, 3, None, None))
    assert p.min[0] == p.opt[0] == p.max[0] == 1 and p.opt == (1, 3, 360, 640)
    for h, w in ((1080, 1920), (1920, 1080), (16, 16)):
        assert all(a <= b <= c for a, b, c in zip(p.min, (1, 3, h, w), p.max))


def test_profile_validation():
    p = et.resolve_profile((None, 3, None, None), "1x3x180x320", "1x3x360x640", "4x3x720x1280")
    assert p.max == (4, 3, 720, 1280)
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        et.resolve_profile((None, 3, None, None), "1x3x720x1280", "1x3x360x640", "1x3x1080x1920")
    with pytest.raises(ConfigError, match="static"):
        et.resolve_profile((1, 3, 24, 32), None, "1x3x48x64", None)
    static = et.resolve_profile((1, 3, 24, 32))
    assert static.min == static.opt == static.max == (1, 3, 24, 32)
    # a user opt above the default max widens max instead of failing
    assert et.resolve_profile((None, 3, None, None), None, "1x3x2160x3840", None).max == (1, 3, 2160, 3840)


def test_onnx_input_reads_dynamic_dims(edge_x2, tmp_path):
    from edgesr.export import export_onnx

    path = export_onnx(edge_x2, tmp_path / "m.onnx", verify=False, simplify=False)
    name, dims = et.onnx_input(path)
    assert name == "input" and dims == (None, 3, None, None)


# ---------------------------------------------------------------- sidecar / cache / mismatch

ENV = {"tensorrt": "10.3.0", "gpu": "Orin (nvgpu)", "compute_capability": "8.7"}


def _sidecar(tmp_path, env=ENV):
    payload = tmp_path / "payload.bin"  # any file: only its hash matters to this logic
    payload.write_bytes(b"not an engine, hashed only")
    prof = et.resolve_profile((None, 3, None, None))
    key = et.cache_key(onnx_sha256="a" * 64, precision="fp16", profiles=[prof], tensorrt=env["tensorrt"],
                       gpu=env["gpu"], compute_capability=env["compute_capability"])
    side = et.make_sidecar(env=env, precision="fp16", profiles=[prof], input_name="input", scale=2,
                           onnx_path="m.onnx", onnx_sha256="a" * 64, engine_sha256=et.file_sha256(payload), key=key,
                           rebuild=et.rebuild_command("m.onnx", payload, "fp16", prof))
    et.write_sidecar(payload, side)
    return payload, key


def test_sidecar_round_trip_and_fields(tmp_path):
    payload, key = _sidecar(tmp_path)
    assert et.sidecar_path(payload).name == "payload.bin.json"
    side = et.read_sidecar(payload)
    for k in ("tensorrt", "gpu", "compute_capability", "precision", "profiles", "scale", "onnx_sha256"):
        assert k in side
    assert side["scale"] == 2 and side["precision"] == "fp16" and side["profiles"][0]["opt"] == [1, 3, 360, 640]
    assert et.check_sidecar(payload, ENV)["cache_key"] == key
    assert et.check_engine(payload, env=ENV)["gpu"] == ENV["gpu"]


@pytest.mark.parametrize("field,value", [("tensorrt", "8.5.2"), ("gpu", "NVIDIA H100"), ("compute_capability", "9.0")])
def test_check_engine_mismatch_says_how_to_rebuild(tmp_path, field, value):
    payload, _ = _sidecar(tmp_path)
    with pytest.raises(EngineMismatchError, match="rebuild with edgesr export trt m.onnx"):
        et.check_engine(payload, env={**ENV, field: value})


def test_missing_or_foreign_sidecar(tmp_path):
    f = tmp_path / "x.engine"
    f.write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="edgesr export trt"):
        et.read_sidecar(f)
    et.sidecar_path(f).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFormatError, match="not an edgesr engine sidecar"):
        et.read_sidecar(f)
    with pytest.raises(ModelFormatError, match="engine not found"):
        et.check_engine(tmp_path / "absent.engine", env=ENV)


def test_cache_key_and_reuse(tmp_path):
    payload, key = _sidecar(tmp_path)
    assert et.reusable(payload, key)
    prof = et.resolve_profile((None, 3, None, None))
    base = dict(onnx_sha256="a" * 64, precision="fp16", profiles=[prof], **{
        "tensorrt": ENV["tensorrt"], "gpu": ENV["gpu"], "compute_capability": ENV["compute_capability"]})
    assert et.cache_key(**base) == key
    others = [{"precision": "fp32"}, {"tensorrt": "10.4.0"}, {"gpu": "other"}, {"onnx_sha256": "b" * 64},
              {"profiles": [et.resolve_profile((None, 3, None, None), max_shape="1x3x720x1280")]}, {"dla_core": 0},
              {"calib": "c"}]
    for change in others:
        k = et.cache_key(**{**base, **change})
        assert k != key and not et.reusable(payload, k)
    payload.write_bytes(b"changed after the build")  # engine no longer the one the sidecar describes
    assert not et.reusable(payload, key)


def test_data_fingerprint(image_folder):
    a = et.data_fingerprint(image_folder)
    (image_folder / "extra.png").write_bytes(b"123")
    assert et.data_fingerprint(image_folder) != a and et.data_fingerprint(None) is None


# ---------------------------------------------------------------- without TensorRT


def _real_trt() -> bool:
    try:
        tc.import_tensorrt()
        return True
    except MissingDependencyError:
        return False


def test_missing_tensorrt_names_the_extra(monkeypatch, edge_x2, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on a machine without TensorRT
    with pytest.raises(MissingDependencyError) as e:
        tc.import_tensorrt()
    assert e.value.extra == "trt" and "edgesr[trt]" in str(e.value)
    from edgesr.cli import main
    from edgesr.export import export_onnx

    onnx_path = export_onnx(edge_x2, tmp_path / "m.onnx", verify=False, simplify=False)
    with pytest.raises(MissingDependencyError):
        et.build_engine(onnx_path, tmp_path / "m.engine")
    assert main(["export", "trt", str(onnx_path), "-o", str(tmp_path / "m.engine")]) == 2
    err = capsys.readouterr().err
    assert "edgesr[trt]" in err and "Traceback" not in err
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.parametrize("kind", ["truncated", "not protobuf", "empty"])
def test_corrupt_onnx_is_a_clear_error_before_tensorrt(kind, monkeypatch, edge_x2, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # the check must not need TensorRT
    from edgesr.cli import main
    from edgesr.export import export_onnx

    good = export_onnx(edge_x2, tmp_path / "good.onnx", verify=False, simplify=False).read_bytes()
    bad = tmp_path / "bad.onnx"
    corrupt = {"truncated": good[:len(good) // 2], "not protobuf": b"\xff\xfe not an onnx file", "empty": b""}
    bad.write_bytes(corrupt[kind])
    with pytest.raises(ModelFormatError, match="not a valid ONNX model"):
        et.build_engine(bad, tmp_path / "m.engine")
    assert main(["export", "trt", str(bad), "-o", str(tmp_path / "m.engine")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgesr export: error: ") and "\n" not in err and "Traceback" not in err
    assert str(bad) in err and "edgesr export onnx" in err and not (tmp_path / "m.engine").exists()


@pytest.mark.skipif(_real_trt(), reason="a real TensorRT is installed")
def test_stub_only_tensorrt_is_not_mistaken_for_tensorrt():
    # tensorrt-stubs installs a .pyi-only `tensorrt` namespace package that imports fine
    with pytest.raises(MissingDependencyError, match="edgesr\\[trt\\]"):
        tc.import_tensorrt()


# ---------------------------------------------------------------- real engines (TensorRT + GPU)


@pytest.fixture
def real_trt():
    if not _real_trt():
        pytest.skip("TensorRT is not installed (pip install 'edgesr[trt]')")
    return tc.import_tensorrt()


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_run_and_reuse_engine(real_trt, any_tiny_model, small_photo, tmp_path, precision):
    import torch

    from edgesr.data import to_tensor
    from edgesr.export import export_onnx

    onnx_path = export_onnx(any_tiny_model, tmp_path / "m.onnx", image=small_photo)
    engine = et.build_engine(onnx_path, tmp_path / "m.engine", precision=precision, max_shape="1x3x256x256",
                             opt_shape="1x3x64x64")
    side = et.check_engine(engine)
    assert side["precision"] == precision and side["scale"] == any_tiny_model.scale
    assert side["onnx_sha256"] == et.file_sha256(onnx_path)
    assert (tmp_path / "m.engine.timing.cache").is_file()
    mtime = engine.stat().st_mtime_ns
    assert et.build_engine(onnx_path, engine, precision=precision, max_shape="1x3x256x256",
                           opt_shape="1x3x64x64").stat().st_mtime_ns == mtime  # reused, not rebuilt

    runtime, eng = tc.deserialize_engine(engine)
    ctx = tc.create_context(eng)
    infos = {i.name: i for i in tc.io_tensors(eng)}
    assert infos["input"].is_input and infos["input"].shape[2] == -1
    x = to_tensor(small_photo[:40, :56]).unsqueeze(0).to("cuda")
    tc.set_input_shape(ctx, "input", tuple(x.shape))
    out_shape = tc.tensor_shape(ctx, "output")
    s = any_tiny_model.scale
    assert out_shape == (1, 3, 40 * s, 56 * s)
    y = torch.empty(out_shape, dtype=torch.float32, device="cuda")
    stream = torch.cuda.current_stream()
    tc.execute_async(ctx, stream.cuda_stream, {"input": x.data_ptr(), "output": y.data_ptr()})
    stream.synchronize()
    with torch.no_grad():
        ref = any_tiny_model.to("cuda")(x)
    tol = 1e-3 if precision == "fp32" else 3e-2
    assert float((y - ref).abs().max()) < tol
    with pytest.raises(Exception):
        tc.set_input_shape(ctx, "input", (1, 3, 512, 512))  # outside the profile
    del ctx, eng, runtime


def test_fixed_shape_profile_and_engine_per_size_paths(tmp_path):
    """Issue 24: a stream has one frame size; its engine has min = opt = max (unverified on a GPU here)."""
    assert et.fixed_profile("360x640") == ((1, 3, 360, 640),) * 3
    assert et.fixed_profile("1x3x180x320") == ((1, 3, 180, 320),) * 3
    with pytest.raises(ConfigError, match="NxCxHxW"):
        et.fixed_profile("360")
    p = et.size_engine_path(tmp_path / "m.onnx", 360, 640, "fp16")
    assert p == tmp_path / "m.360x640.fp16.engine"
    assert et.size_engine_path(tmp_path / "m.onnx", 720, 1280, None, tmp_path / "c").name == "m.720x1280.graph.engine"
    prof = et.resolve_profile((None, 3, None, None), *et.fixed_profile("360x640"))
    assert prof.min == prof.opt == prof.max == (1, 3, 360, 640)


def test_fixed_shape_and_a_profile_are_exclusive(edge_x2, tmp_path):
    from edgesr.export.onnx import export_onnx

    onnx_path = export_onnx(edge_x2, tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="drop --min/--opt/--max"):
        et.build_engine(onnx_path, tmp_path / "m.engine", shape="360x640", max_shape="1x3x720x1280")
