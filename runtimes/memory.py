"""CUDA memory for the TensorRT backend: device buffers, pinned host arrays and one stream.

Why one module with two implementations: JetPack images commonly ship ``pycuda``; desktop
installs use NVIDIA's ``cuda-python`` (``cuda.bindings.runtime``). Both expose the same four
operations here (alloc, pinned, async H2D/D2H, sync), so ``trt.py`` never sees the difference.
Pointers and the stream are plain ints, which is what TensorRT's Python API takes.

:func:`self_test` runs an alloc -> H2D -> D2H -> sync round trip and verifies the bytes; GPU
check scripts call it (``python -c "from edgesr.runtimes.memory import self_test; print(self_test())"``).
"""
from __future__ import annotations

import ctypes
import logging
import time
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from edgesr.errors import ConfigError, EdgeSRError, MissingDependencyError

log = logging.getLogger(__name__)

IMPLS = ("cuda-python", "pycuda")


class CudaError(EdgeSRError, RuntimeError):
    """A CUDA call failed (no driver, no GPU, out of memory)."""


class DeviceMemory(ABC):
    """Owns every allocation it makes; :meth:`close` frees them all (also a context manager)."""

    impl: str = ""

    @property
    @abstractmethod
    def stream(self) -> int: ...

    @abstractmethod
    def alloc(self, nbytes: int) -> int:
        """Device buffer of ``nbytes``; returns its pointer."""

    @abstractmethod
    def pinned(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Page-locked host array (fast, truly asynchronous copies)."""

    @abstractmethod
    def h2d(self, dst: int, src: np.ndarray) -> None:
        """Enqueue host -> device on :attr:`stream`."""

    @abstractmethod
    def d2h(self, dst: np.ndarray, src: int) -> None:
        """Enqueue device -> host on :attr:`stream`."""

    @abstractmethod
    def sync(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "DeviceMemory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _host_view(ptr: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dt.itemsize
    buf = (ctypes.c_byte * nbytes).from_address(ptr)
    return np.frombuffer(buf, dtype=dt).reshape(shape)


class CudaPythonMemory(DeviceMemory):
    """``cuda.bindings.runtime`` (cuda-python >= 12.3; older ``cuda.cudart`` also accepted)."""

    impl = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            try:
                from cuda import cudart  # type: ignore[no-redef]  # cuda-python < 12.3
            except ImportError:
                raise MissingDependencyError("cuda-python", "cuda", "for TensorRT device memory") from None
        self._rt = cudart
        self._device_ptrs: list[int] = []
        self._host_ptrs: list[int] = []
        self._check(cudart.cudaSetDevice(device), "cudaSetDevice")
        self._stream = self._check(cudart.cudaStreamCreate(), "cudaStreamCreate")

    def _check(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            _, msg = self._rt.cudaGetErrorString(err)
            text = msg.decode() if isinstance(msg, bytes) else str(msg)
            raise CudaError(f"{what} failed: {text} ({err}); check the NVIDIA driver and that a GPU is visible "
                            "(nvidia-smi)")
        return rest[0] if len(rest) == 1 else (rest or None)

    @property
    def stream(self) -> int:
        return int(self._stream)

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._check(self._rt.cudaMalloc(int(nbytes)), "cudaMalloc"))
        self._device_ptrs.append(ptr)
        return ptr

    def pinned(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        nbytes = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
        ptr = int(self._check(self._rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._host_ptrs.append(ptr)
        return _host_view(ptr, shape, dtype)

    def h2d(self, dst: int, src: np.ndarray) -> None:
        self._check(self._rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes,
                                             self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self._stream),
                    "cudaMemcpyAsync(H2D)")

    def d2h(self, dst: np.ndarray, src: int) -> None:
        self._check(self._rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes,
                                             self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self._stream),
                    "cudaMemcpyAsync(D2H)")

    def sync(self) -> None:
        self._check(self._rt.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def close(self) -> None:
        rt = self._rt
        for p in self._device_ptrs:
            rt.cudaFree(p)
        for p in self._host_ptrs:
            rt.cudaFreeHost(p)
        self._device_ptrs, self._host_ptrs = [], []
        if self._stream is not None:
            rt.cudaStreamDestroy(self._stream)
            self._stream = None


class PycudaMemory(DeviceMemory):
    """``pycuda.driver`` (JetPack). Uses the device's primary context, shared with TensorRT."""

    impl = "pycuda"

    def __init__(self, device: int = 0) -> None:
        try:
            import pycuda.driver as cuda
        except ImportError:
            raise MissingDependencyError("pycuda", "trt", "for TensorRT device memory") from None
        self._cuda = cuda
        try:
            cuda.init()
            self._ctx = cuda.Device(device).retain_primary_context()
            self._ctx.push()
            self._stream_obj = cuda.Stream()
        except cuda.Error as e:
            raise CudaError(f"pycuda could not open GPU {device}: {e}; check the NVIDIA driver (nvidia-smi)") from None
        self._allocs: list[Any] = []

    @property
    def stream(self) -> int:
        return int(self._stream_obj.handle)

    def alloc(self, nbytes: int) -> int:
        a = self._cuda.mem_alloc(int(nbytes))
        self._allocs.append(a)
        return int(a)

    def pinned(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return self._cuda.pagelocked_empty(shape, dtype)  # type: ignore[no-any-return]

    def h2d(self, dst: int, src: np.ndarray) -> None:
        self._cuda.memcpy_htod_async(dst, src, self._stream_obj)

    def d2h(self, dst: np.ndarray, src: int) -> None:
        self._cuda.memcpy_dtoh_async(dst, src, self._stream_obj)

    def sync(self) -> None:
        self._stream_obj.synchronize()

    def close(self) -> None:
        for a in self._allocs:
            a.free()
        self._allocs = []
        if getattr(self, "_ctx", None) is not None:
            self._ctx.pop()
            self._ctx = None


def open_memory(impl: str = "auto", device: int = 0) -> DeviceMemory:
    """``"cuda-python"``, ``"pycuda"`` or ``"auto"`` (cuda-python first, then pycuda)."""
    if impl == "cuda-python":
        return CudaPythonMemory(device)
    if impl == "pycuda":
        return PycudaMemory(device)
    if impl != "auto":
        raise ConfigError(f"unknown CUDA memory implementation {impl!r}; use one of auto, {', '.join(IMPLS)}")
    try:
        return CudaPythonMemory(device)
    except MissingDependencyError:
        try:
            return PycudaMemory(device)
        except MissingDependencyError:
            raise MissingDependencyError("cuda-python", "cuda", "(or pycuda) for TensorRT device memory") from None


def self_test(impl: str = "cuda-python", nbytes: int = 1 << 22, device: int = 0) -> dict[str, Any]:
    """Round trip ``nbytes`` random bytes host -> device -> host on the stream and compare.

    Returns ``{"impl", "ok", "nbytes", "h2d_gbps", "d2h_gbps"}``; raises CudaError /
    MissingDependencyError when CUDA is unusable.
    """
    rng = np.random.default_rng(0)
    with open_memory(impl, device) as mem:
        src = mem.pinned((nbytes,), np.uint8)
        dst = mem.pinned((nbytes,), np.uint8)
        src[:] = rng.integers(0, 256, nbytes, dtype=np.uint8)
        dst[:] = 0
        d = mem.alloc(nbytes)
        t0 = time.perf_counter()
        mem.h2d(d, src)
        mem.sync()
        t1 = time.perf_counter()
        mem.d2h(dst, d)
        mem.sync()
        t2 = time.perf_counter()
        ok = bool(np.array_equal(src, dst))
        return {"impl": mem.impl, "ok": ok, "nbytes": nbytes, "h2d_gbps": nbytes / max(t1 - t0, 1e-9) / 1e9,
                "d2h_gbps": nbytes / max(t2 - t1, 1e-9) / 1e9}
