"""Every TensorRT version difference, in one place, as ``hasattr`` feature tests (no version parsing).

Supported: TensorRT 8.5 (JetPack 5), 8.6 / 10.3 (JetPack 6), 10.x and 11.x (desktop / Thor).

What changes across versions and how this module decides (``detect(trt) -> Features``):

===========================  =====================================  ==================================
feature test                 present in                             consequence
===========================  =====================================  ==================================
NetworkDefinitionCreation-   8.x .. 10.x (ignored from 10)          set it when present (required <10)
Flag.EXPLICIT_BATCH
NetworkDefinitionCreation-   9.1+                                   strongly typed network: precision
Flag.STRONGLY_TYPED                                                 from the ONNX graph (FP16 casts, Q/DQ)
BuilderFlag.FP16 / INT8      <= 10.x (gone in 11)                   weakly typed: builder precision flags
IInt8EntropyCalibrator2 +    <= 10.x (deprecated 10.1, gone in 11)  legacy implicit INT8 calibration
IBuilderConfig.int8_calib.
IBuilderConfig.set_memory_   8.4+                                   else ``max_workspace_size``
pool_limit
ICudaEngine.num_io_tensors   8.5+                                   name-based tensor API, else bindings
IExecutionContext.execute_   8.5+                                   else ``execute_async_v2(bindings)``
async_v3
===========================  =====================================  ==================================

Runtime-side helpers (used by ``edgesr.runtimes.trt``; all take TensorRT objects and hide the
binding-index vs tensor-name APIs)::

    import_tensorrt() -> TensorRTModule               # the module; MissingDependencyError(extra "trt") if absent
    detect(trt) -> Features
    deserialize_engine(src: bytes | path) -> (trt.Runtime, trt.ICudaEngine)   # keep both alive
    create_context(engine) -> trt.IExecutionContext
    io_tensors(engine) -> list[TensorInfo]           # name, is_input, shape (-1 = dynamic), numpy dtype
    profile_shapes(engine, name, profile=0) -> (min, opt, max)
    set_input_shape(context, name, shape) -> None     # InputError if outside the engine's profile
    tensor_shape(context, name) -> tuple[int, ...]    # resolved shape (outputs: after set_input_shape)
    set_tensor_addresses(context, {name: device_ptr}) -> list[int]   # v2 bindings list (also kept)
    execute_async(context, stream_handle, {name: device_ptr}) -> None   # v3 if present, else v2
    gpu_info(device=0) -> (name, "major.minor")       # cuda-python, pycuda or torch.cuda
    current_environment(device=0) -> {"tensorrt", "gpu", "compute_capability"}

Pointers and streams are plain ints (``cudaStream_t`` / device pointers from cuda-python, pycuda
or ``torch.Tensor.data_ptr()``), so the runtime can pick any CUDA binding.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from edgesr.errors import ConfigError, InputError, MissingDependencyError, ModelFormatError
from edgesr.fileio import atomic_write_bytes
from edgesr.precision import Precision

if TYPE_CHECKING:  # the stubs (tensorrt-stubs) make mypy check every TensorRT call below
    import tensorrt as trt

log = logging.getLogger(__name__)


class TensorRTModule(Protocol):
    """The ``tensorrt`` module handle, as the helpers here use it (types from tensorrt-stubs).

    The handle is a real ``tensorrt`` module, so mypy checks it structurally: ``import_tensorrt``
    returns the module itself (every member below must exist in the stubs with this type), and an
    attribute not listed here is an error on a handle (``trt_module.OnnxParserr`` fails the type
    check; scripts/typecheck.sh proves it). Add a member here before using a new top-level name;
    a name that some supported versions lack is reached through ``getattr`` after a ``detect``
    feature test instead. ``__version__`` is not a member (mypy does not count module dunders):
    use ``version(trt_module)``.
    """

    @property
    def Builder(self) -> type[trt.Builder]: ...
    @property
    def BuilderFlag(self) -> type[trt.BuilderFlag]: ...
    @property
    def DeviceType(self) -> type[trt.DeviceType]: ...
    @property
    def Logger(self) -> type[trt.Logger]: ...
    @property
    def MemoryPoolType(self) -> type[trt.MemoryPoolType]: ...
    @property
    def NetworkDefinitionCreationFlag(self) -> type[trt.NetworkDefinitionCreationFlag]: ...
    @property
    def OnnxParser(self) -> type[trt.OnnxParser]: ...
    @property
    def Runtime(self) -> type[trt.Runtime]: ...
    @property
    def TensorIOMode(self) -> type[trt.TensorIOMode]: ...
    def nptype(self, trt_type: trt.DataType) -> type[np.generic]: ...


def version(trt_module: object) -> str:
    """``tensorrt.__version__`` ("unknown" for a handle without one)."""
    return str(getattr(trt_module, "__version__", "unknown"))


def import_tensorrt() -> TensorRTModule:
    """``import tensorrt``, or a MissingDependencyError naming the ``trt`` extra.

    An installed ``tensorrt-stubs`` leaves a bare ``tensorrt`` namespace package (``.pyi`` only)
    that imports without error, so a real install is recognised by ``Builder`` being present.
    """
    try:
        import tensorrt
    except ImportError:
        raise MissingDependencyError("tensorrt", "trt", why="to build or run TensorRT engines "
                                     "(on Jetson: the JetPack python3-libnvinfer package)") from None
    if not hasattr(tensorrt, "Builder"):
        raise MissingDependencyError("tensorrt", "trt", why="to build or run TensorRT engines (only type stubs "
                                     "are installed)")
    return tensorrt


@dataclass(frozen=True)
class Features:
    """What the installed TensorRT can do (see the module docstring for the table)."""

    version: str
    explicit_batch_flag: bool
    strongly_typed: bool
    precision_flags: bool
    calibrator: bool
    memory_pool: bool
    tensor_api: bool
    execute_v3: bool
    timing_cache: bool
    dla: bool

    @property
    def precision_from_graph(self) -> bool:
        """True on TensorRT >= 11: precision must be in the ONNX graph (strongly typed network)."""
        return self.strongly_typed and not self.precision_flags


def detect(trt_module: object) -> Features:
    """Feature-test a ``tensorrt`` module (or anything exposing the same names)."""
    t = trt_module
    ncf = getattr(t, "NetworkDefinitionCreationFlag", None)
    bf = getattr(t, "BuilderFlag", None)
    cfg = getattr(t, "IBuilderConfig", None)
    eng = getattr(t, "ICudaEngine", None)
    ctx = getattr(t, "IExecutionContext", None)
    dev = getattr(t, "DeviceType", None)
    return Features(
        version=version(t),
        explicit_batch_flag=hasattr(ncf, "EXPLICIT_BATCH"),
        strongly_typed=hasattr(ncf, "STRONGLY_TYPED"),
        precision_flags=hasattr(bf, "FP16") and hasattr(bf, "INT8"),
        calibrator=hasattr(t, "IInt8EntropyCalibrator2") and hasattr(cfg, "int8_calibrator"),
        memory_pool=hasattr(cfg, "set_memory_pool_limit") and hasattr(t, "MemoryPoolType"),
        tensor_api=hasattr(eng, "num_io_tensors") and hasattr(ctx, "set_input_shape"),
        execute_v3=hasattr(ctx, "execute_async_v3") and hasattr(ctx, "set_tensor_address"),
        timing_cache=hasattr(cfg, "create_timing_cache") and hasattr(cfg, "set_timing_cache"),
        dla=hasattr(dev, "DLA") and hasattr(bf, "GPU_FALLBACK"),
    )


# ---------------------------------------------------------------------------------------- build plan


@dataclass(frozen=True)
class BuildPlan:
    """How to get ``precision`` out of this TensorRT, decided without touching a GPU.

    ``convert``: rewrite the ONNX first ("fp16" via ``edgesr.calibration.to_fp16``, "qdq" via
    ``edgesr.calibration.quantize_onnx``); ``strongly_typed``: create the network with
    STRONGLY_TYPED; ``builder_flags``: ``BuilderFlag`` member names to set; ``calibrator``: attach
    the legacy implicit INT8 calibrator.
    """

    precision: Precision
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    calibrator: bool
    convert: str | None


def plan_build(features: Features, precision: Precision | str | None, graph: Precision | str, *,
               has_calib: bool = False, dla: bool = False) -> BuildPlan:
    """Decide flags / conversion / calibrator for ``precision`` given the ONNX's own ``graph`` precision.

    Raises ConfigError, with the fix, for combinations that cannot work (never silently changes
    the precision the user asked for).
    """
    g = Precision.parse(graph)
    p = g if precision is None else Precision.parse(precision)
    if g != Precision.FP32 and p != g:
        raise ConfigError(f"the ONNX graph is already {g} (it has {'Q/DQ nodes' if g == Precision.INT8 else 'fp16 tensors'})"
                          f" but {p} was requested; pass --precision {g}, or start from an fp32 export "
                          "('edgesr export onnx MODEL.pt')")
    if dla and not features.dla:
        raise ConfigError(f"TensorRT {features.version} has no DLA support; drop --dla-core")
    if dla and p == Precision.FP32:
        raise ConfigError("DLA runs fp16 or int8 only; pass --precision fp16 (or int8) with --dla-core")
    extra = ("GPU_FALLBACK",) if dla else ()
    convert: str | None = None
    if features.precision_from_graph:  # TensorRT >= 11: strongly typed, no flags, no calibrator
        if p == Precision.FP16 and g == Precision.FP32:
            convert = "fp16"
        elif p == Precision.INT8 and g == Precision.FP32:
            if not has_calib:
                raise ConfigError(f"INT8 on TensorRT {features.version} needs Q/DQ nodes in the ONNX; pass --calib "
                                  "DIR|VIDEO to quantize it now, or export with 'edgesr export onnx --int8 --calib DATA'")
            convert = "qdq"
        return BuildPlan(p, True, extra, False, convert)
    if not features.precision_flags:
        raise ConfigError(f"TensorRT {features.version} has neither builder precision flags nor strongly typed "
                          "networks; install TensorRT 8.5 or newer")
    if p == Precision.FP32:
        return BuildPlan(p, False, extra, False, None)
    if p == Precision.FP16:
        return BuildPlan(p, False, ("FP16",) + extra, False, None)
    # INT8 on <= 10: Q/DQ graph (explicit quantization, preferred) or legacy calibrator
    flags = ("INT8", "FP16") + extra
    if g == Precision.INT8:
        return BuildPlan(p, False, flags, False, None)
    if not has_calib:
        raise ConfigError("INT8 from an fp32 ONNX needs calibration data: pass --calib DIR|VIDEO, or export a "
                          "Q/DQ model with 'edgesr export onnx --int8 --calib DATA'")
    if features.calibrator:
        return BuildPlan(p, False, flags, True, None)
    return BuildPlan(p, False, flags, False, "qdq")


# ------------------------------------------------------------------------------------ build helpers


def make_logger(trt_module: TensorRTModule, verbose: bool = False) -> "trt.ILogger":
    t = trt_module
    return t.Logger(t.Logger.VERBOSE if verbose else t.Logger.WARNING)


def create_network(builder: "trt.Builder", trt_module: TensorRTModule, features: Features,
                   strongly_typed: bool) -> "trt.INetworkDefinition":
    """Explicit-batch network (flag needed before 10, ignored after), optionally strongly typed."""
    t = trt_module
    flags = 0
    if features.explicit_batch_flag and not features.precision_from_graph:
        flags |= 1 << int(t.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        flags |= 1 << int(t.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return builder.create_network(flags)


def parse_onnx(trt_module: TensorRTModule, network: "trt.INetworkDefinition", logger: "trt.ILogger",
               onnx_path: str | os.PathLike[str]) -> "trt.OnnxParser":
    """Parse an ONNX file into ``network``; parser errors become one ModelFormatError."""
    parser = trt_module.OnnxParser(network, logger)
    ok = parser.parse_from_file(str(onnx_path))
    if not ok:
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelFormatError(f"TensorRT {version(trt_module)} cannot parse {onnx_path}: " + " | ".join(errs)
                               + "; re-export with 'edgesr export onnx' (opset 17), or see docs/export.md for the "
                               "operators each TensorRT version supports")
    return parser


def set_workspace(config: "trt.IBuilderConfig", trt_module: TensorRTModule, features: Features, mib: int) -> None:
    size = int(mib) << 20
    if features.memory_pool:
        config.set_memory_pool_limit(trt_module.MemoryPoolType.WORKSPACE, size)
    else:  # TensorRT < 8.4
        config.max_workspace_size = size  # type: ignore[attr-defined]  # removed in TRT 10 (not in the stubs)


def set_builder_flags(config: "trt.IBuilderConfig", trt_module: TensorRTModule, names: Sequence[str]) -> None:
    for name in names:
        config.set_flag(getattr(trt_module.BuilderFlag, name))


def set_calibrator(config: "trt.IBuilderConfig", calibrator: "trt.IInt8Calibrator") -> None:
    """Legacy implicit INT8 calibration (TensorRT <= 10 only; ``plan_build`` never asks for it on 11)."""
    config.int8_calibrator = calibrator


def set_dla(config: "trt.IBuilderConfig", trt_module: TensorRTModule, core: int) -> None:
    """Run on DLA ``core``; layers DLA cannot run (Resize cubic among them) fall back to the GPU."""
    config.default_device_type = trt_module.DeviceType.DLA
    config.DLA_core = int(core)
    config.set_flag(trt_module.BuilderFlag.GPU_FALLBACK)


def add_profile(builder: "trt.Builder", config: "trt.IBuilderConfig", input_name: str,
                min_shape: Sequence[int], opt_shape: Sequence[int], max_shape: Sequence[int]) -> int:
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, tuple(min_shape), tuple(opt_shape), tuple(max_shape))  # type: ignore[arg-type]
    return config.add_optimization_profile(profile)


def load_timing_cache(config: "trt.IBuilderConfig", features: Features,
                      path: str | os.PathLike[str] | None) -> "trt.ITimingCache | None":
    """Attach a timing cache (read from ``path`` when it exists) so repeated builds skip tactic timing."""
    if path is None or not features.timing_cache:
        return None
    data = Path(path).read_bytes() if Path(path).is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):
        log.warning("timing cache %s does not match this TensorRT/GPU; starting a fresh one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, True)
    return cache


def save_timing_cache(config: "trt.IBuilderConfig", features: Features, path: str | os.PathLike[str] | None) -> None:
    if path is None or not features.timing_cache:
        return
    data = bytes(memoryview(config.get_timing_cache().serialize()))
    atomic_write_bytes(path, data)


def build_serialized(builder: "trt.Builder", network: "trt.INetworkDefinition", config: "trt.IBuilderConfig") -> bytes:
    """Serialized engine bytes; a failed build (None) becomes a ModelFormatError."""
    if hasattr(builder, "build_serialized_network"):
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise ModelFormatError("TensorRT could not build the engine (see the TensorRT log above); try a larger "
                                   "--workspace, a smaller --max shape, or another --precision")
        return bytes(memoryview(blob))
    engine = builder.build_engine(network, config)  # type: ignore[attr-defined]  # TRT < 8 (removed in 10)
    if engine is None:
        raise ModelFormatError("TensorRT could not build the engine (see the log above)")
    return bytes(memoryview(engine.serialize()))


# ------------------------------------------------------------------------------------ runtime helpers


@dataclass(frozen=True)
class TensorInfo:
    name: str
    is_input: bool
    shape: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: np.dtype


def _dims(d: Any) -> tuple[int, ...]:
    """``trt.Dims`` -> tuple (index-based: the stubs do not declare ``Dims`` iterable)."""
    return tuple(int(d[i]) for i in range(len(d)))


def _np_dtype(trt_module: TensorRTModule, dtype: "trt.DataType") -> np.dtype:
    try:
        return np.dtype(trt_module.nptype(dtype))
    except Exception:  # types numpy lacks (bf16, fp8): report as raw bytes
        return np.dtype(np.uint8)


def deserialize_engine(src: bytes | str | os.PathLike[str], *, verbose: bool = False
                       ) -> "tuple[trt.Runtime, trt.ICudaEngine]":
    """Load an engine (bytes or file). Keep the returned runtime alive as long as the engine."""
    t = import_tensorrt()
    data = src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()
    runtime = t.Runtime(make_logger(t, verbose))
    engine = runtime.deserialize_cuda_engine(bytes(data))
    if engine is None:
        raise ModelFormatError(f"TensorRT {version(t)} cannot load this engine (built by another TensorRT version or "
                               "for another GPU, or corrupt); rebuild it with 'edgesr export trt MODEL.onnx'")
    return runtime, engine


def create_context(engine: "trt.ICudaEngine") -> "trt.IExecutionContext":
    ctx = engine.create_execution_context()
    if ctx is None:
        raise ModelFormatError("TensorRT could not create an execution context (out of GPU memory?)")
    return ctx


def io_tensors(engine: "trt.ICudaEngine") -> list[TensorInfo]:
    """Inputs and outputs of an engine, in engine order."""
    t = import_tensorrt()
    out = []
    if hasattr(engine, "num_io_tensors"):
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            out.append(TensorInfo(name, engine.get_tensor_mode(name) == t.TensorIOMode.INPUT,
                                  _dims(engine.get_tensor_shape(name)), _np_dtype(t, engine.get_tensor_dtype(name))))
        return out
    for i in range(engine.num_bindings):  # type: ignore[attr-defined]  # TRT < 8.5 binding API
        out.append(TensorInfo(engine.get_binding_name(i), engine.binding_is_input(i),  # type: ignore[attr-defined]
                              _dims(engine.get_binding_shape(i)),  # type: ignore[attr-defined]
                              _np_dtype(t, engine.get_binding_dtype(i))))  # type: ignore[attr-defined]
    return out


def profile_shapes(engine: "trt.ICudaEngine", name: str, profile: int = 0
                   ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes of input ``name`` in optimization profile ``profile``."""
    if hasattr(engine, "get_tensor_profile_shape"):
        shapes = engine.get_tensor_profile_shape(name, profile)
    else:
        shapes = engine.get_profile_shape(profile, name)  # type: ignore[attr-defined]  # TRT < 8.5
    mn, opt, mx = (_dims(s) for s in shapes)
    return mn, opt, mx


def _engine(context: "trt.IExecutionContext") -> "trt.ICudaEngine":
    """``context.engine``, with its documented type (the stubs declare it ``...``, i.e. unchecked)."""
    engine: trt.ICudaEngine = context.engine
    return engine


def _binding_index(context: "trt.IExecutionContext", name: str) -> int:
    return int(_engine(context).get_binding_index(name))  # type: ignore[attr-defined]  # TRT < 8.5


def set_input_shape(context: "trt.IExecutionContext", name: str, shape: Sequence[int]) -> None:
    """Set a dynamic input's shape; a shape outside the engine's profile raises InputError."""
    shape = tuple(int(d) for d in shape)
    if hasattr(context, "set_input_shape"):
        ok = context.set_input_shape(name, shape)
    else:
        ok = context.set_binding_shape(_binding_index(context, name), shape)  # type: ignore[attr-defined]
    if not ok:
        mn, _, mx = profile_shapes(_engine(context), name)
        raise InputError(f"input shape {shape} is outside this engine's profile {mn}..{mx}; tile the frame "
                         "(Upscaler tile=...) or rebuild with a larger 'edgesr export trt --max'")


def tensor_shape(context: "trt.IExecutionContext", name: str) -> tuple[int, ...]:
    """Shape of tensor ``name`` in this context (outputs are resolved after ``set_input_shape``)."""
    if hasattr(context, "get_tensor_shape"):
        return _dims(context.get_tensor_shape(name))
    return _dims(context.get_binding_shape(_binding_index(context, name)))  # type: ignore[attr-defined]


def set_tensor_addresses(context: "trt.IExecutionContext", addresses: Mapping[str, int]) -> list[int]:
    """Bind device pointers by tensor name; returns the index-ordered bindings list the v2 API needs."""
    engine = _engine(context)
    if hasattr(context, "set_tensor_address"):
        for name, ptr in addresses.items():
            if not context.set_tensor_address(name, int(ptr)):
                raise InputError(f"TensorRT rejected the device address for tensor {name!r}; pass a CUDA device pointer")
        return [int(addresses[engine.get_tensor_name(i)]) for i in range(engine.num_io_tensors) if
                engine.get_tensor_name(i) in addresses]
    n = engine.num_bindings  # type: ignore[attr-defined]  # TRT < 8.5
    bindings = [0] * n
    for name, ptr in addresses.items():
        bindings[_binding_index(context, name)] = int(ptr)
    return bindings


def execute_async(context: "trt.IExecutionContext", stream_handle: int, addresses: Mapping[str, int]) -> None:
    """Enqueue one inference on ``stream_handle``: ``execute_async_v3`` when present, else v2 with bindings."""
    bindings = set_tensor_addresses(context, addresses)
    if hasattr(context, "execute_async_v3"):
        ok = context.execute_async_v3(int(stream_handle))
    else:
        ok = context.execute_async_v2(bindings, int(stream_handle))  # type: ignore[attr-defined]  # TRT < 8.5
    if not ok:
        raise ModelFormatError("TensorRT failed to enqueue the inference (see the TensorRT log); check the input "
                               "shape against the engine profile and that every I/O tensor has an address")


# ---------------------------------------------------------------------------------------- environment


def gpu_info(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") via cuda-python, pycuda or torch.cuda."""
    import importlib

    for modname in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            cudart: Any = importlib.import_module(modname)
            err, prop = cudart.cudaGetDeviceProperties(device)
            if int(err) == 0:
                name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
                return name.strip("\x00").strip(), f"{prop.major}.{prop.minor}"
        except Exception:
            continue
    try:
        drv: Any = importlib.import_module("pycuda.driver")
        drv.init()
        d = drv.Device(device)
        major, minor = d.compute_capability()
        return str(d.name()), f"{major}.{minor}"
    except Exception:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(device)
            return torch.cuda.get_device_name(device), f"{major}.{minor}"
    except Exception:
        pass
    raise MissingDependencyError("cuda-python", "cuda", why="to identify the GPU an engine is built for "
                                 "(or no NVIDIA GPU/driver is visible)")


def current_environment(device: int = 0) -> dict[str, str]:
    """The facts an engine is tied to: TensorRT version, GPU name, compute capability."""
    t = import_tensorrt()
    name, cc = gpu_info(device)
    return {"tensorrt": version(t), "gpu": name, "compute_capability": cc}
