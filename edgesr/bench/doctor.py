"""What this machine can run, and the exact fix for what it cannot.

Why probes run in a subprocess where a crash is possible: a broken TensorRT or CUDA install can
abort the interpreter on import (missing ``libnvinfer.so``, driver/runtime mismatch); the doctor
must still print its report, so ``import tensorrt`` and the DLA query happen in a child process
with a timeout. ONNX Runtime and torch are imported in-process (they are core dependencies).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Check", "Report", "diagnose", "jetson_info", "tensorrt_installed", "L4T_TO_JETPACK"]

# L4T (Jetson Linux) release -> JetPack. Source: NVIDIA's JetPack archive / Jetson Linux release notes.
L4T_TO_JETPACK: dict[str, str] = {
    "32.7": "4.6.x", "35.1": "5.0.2", "35.2": "5.1", "35.3": "5.1.1", "35.4": "5.1.2", "35.5": "5.1.3",
    "35.6": "5.1.4", "36.2": "6.0 DP", "36.3": "6.0", "36.4": "6.1/6.2", "38.2": "7.0",
}
TRT_PIP = "pip install 'edgesr[trt]' (desktop/server: the tensorrt wheel from PyPI)"
TRT_JETSON = "sudo apt install nvidia-tensorrt python3-libnvinfer (JetPack ships TensorRT; do not pip install it)"

OK, MISSING, WARN, INFO = "ok", "missing", "warn", "info"


@dataclass
class Check:
    """One line of the report: ``status`` ok | missing | warn | info, and the fix when not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    usable: dict[str, list[str]] = field(default_factory=dict)  # backend/device -> precisions
    unusable: dict[str, str] = field(default_factory=dict)  # backend/device -> why + fix

    def add(self, *a: Any, **k: Any) -> Check:
        c = Check(*a, **k)
        self.checks.append(c)
        return c

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [asdict(c) for c in self.checks], "usable": self.usable, "unusable": self.unusable}

    def text(self) -> str:
        tag = {OK: "[ok]  ", MISSING: "[--]  ", WARN: "[!!]  ", INFO: "[  ]  "}
        lines = []
        for c in self.checks:
            lines.append(f"{tag.get(c.status, '[??]  ')}{c.name}: {c.detail}")
            if c.fix:
                lines.append(f"        fix: {c.fix}")
        lines.append("")
        lines.append("usable backends and precisions:")
        for k, v in self.usable.items():
            lines.append(f"  [ok]  {k}: {', '.join(v)}")
        for k, why in self.unusable.items():
            lines.append(f"  [--]  {k}: {why}")
        return "\n".join(lines)


def tensorrt_installed() -> bool:
    """TensorRT's Python package is present (not just ``tensorrt-stubs``, a namespace package of .pyi files)."""
    spec = importlib.util.find_spec("tensorrt")
    return spec is not None and spec.origin is not None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_bytes().decode(errors="replace").replace("\x00", "").strip()
    except OSError:
        return None


def jetson_info(root: str = "/") -> dict[str, str] | None:
    """Jetson model, L4T release and JetPack (from ``/etc/nv_tegra_release`` and the device tree)."""
    rel = _read(os.path.join(root, "etc/nv_tegra_release"))
    model = _read(os.path.join(root, "proc/device-tree/model"))
    if rel is None and (model is None or "jetson" not in model.lower()):
        return None
    info: dict[str, str] = {"model": model or "unknown Jetson"}
    if rel:
        m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", rel)
        if m:
            l4t = f"{m.group(1)}.{m.group(2)}"
            info["l4t"] = l4t
            major_minor = ".".join(l4t.split(".")[:2])
            info["jetpack"] = L4T_TO_JETPACK.get(major_minor, f"unknown for L4T {l4t}")
    return info


def _dla_guess(model: str) -> int | None:
    """DLA cores by module when TensorRT cannot be asked (AGX Orin/Xavier, Orin NX/Xavier NX: 2 or 1)."""
    m = model.lower()
    if "orin nano" in m or "nano" in m and "orin" not in m:
        return 0
    if "agx" in m or "xavier nx" in m:
        return 2
    if "orin nx" in m:
        return 2 if "16gb" in m.replace(" ", "") else 1
    return None


def _probe_trt(timeout: float = 60.0) -> dict[str, Any]:
    """Import TensorRT in a child process: version, and DLA core count when a GPU is present."""
    code = (
        "import json, tensorrt as trt\n"
        "out = {'version': trt.__version__}\n"
        "try:\n"
        "    b = trt.Builder(trt.Logger(trt.Logger.ERROR))\n"
        "    out['dla_cores'] = int(b.num_DLA_cores)\n"
        "    out['fast_fp16'] = bool(b.platform_has_fast_fp16)\n"
        "    out['fast_int8'] = bool(b.platform_has_fast_int8)\n"
        "except Exception as e:\n"
        "    out['builder_error'] = f'{type(e).__name__}: {e}'\n"
        "print(json.dumps(out))\n"
    )
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"import tensorrt did not finish in {timeout:.0f} s"}
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        return {"error": last[:300]}
    try:
        return dict(json.loads(r.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": f"unexpected output: {r.stdout[:200]!r}"}


def _nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=15)
    except (subprocess.TimeoutExpired, OSError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def diagnose(probe_tensorrt: bool = True) -> Report:
    """Inspect platform, GPU, CUDA, TensorRT, ONNX Runtime, optional extras; derive usable backends."""
    r = Report()
    from .. import __version__

    r.add("edgesr", INFO, f"{__version__} on Python {platform.python_version()} ({sys.executable})")
    r.add("platform", INFO, f"{platform.system()} {platform.release()} {platform.machine()}")
    jet = jetson_info()
    if jet:
        jp = f"L4T {jet.get('l4t', '?')}, JetPack {jet.get('jetpack', '?')}"
        r.add("Jetson", OK, f"{jet['model']} ({jp})")
    else:
        r.add("Jetson", INFO, "not a Jetson (no /etc/nv_tegra_release)")

    # -- GPU / CUDA through torch --------------------------------------------------------------
    import torch

    cuda_ok = torch.cuda.is_available()
    cc: tuple[int, int] | None = None
    smi = _nvidia_smi()
    if cuda_ok:
        cc = torch.cuda.get_device_capability(0)
        name = torch.cuda.get_device_name(0)
        mem = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
        r.add("GPU", OK, f"{name}, compute capability {cc[0]}.{cc[1]}, {mem:.1f} GiB"
              + (f"; nvidia-smi: {smi}" if smi else ""))
        r.add("CUDA (torch)", OK, f"torch {torch.__version__} built for CUDA {torch.version.cuda}")
    elif torch.version.cuda is None:
        detail = "torch is the CPU build" + (f" but nvidia-smi sees: {smi}" if smi else "; no NVIDIA GPU visible")
        fix = ("pip install torch --index-url https://download.pytorch.org/whl/cu126 (CUDA build)" if smi else
               "" if not jet else "install the JetPack PyTorch wheel for your L4T release (NVIDIA's Jetson wheels)")
        r.add("GPU", MISSING if (smi or jet) else INFO, detail, fix)
    else:
        r.add("GPU", MISSING, f"torch {torch.__version__} has CUDA {torch.version.cuda} but sees no GPU",
              "check the NVIDIA driver (nvidia-smi) and that the container runs with --gpus all / --runtime nvidia")

    # -- cuda-python / pycuda (device buffers for TensorRT) -----------------------------------
    cp = _version("cuda-python") or _version("cuda-bindings")
    pyc = _version("pycuda")
    if cp or pyc:
        r.add("CUDA host API", OK, ", ".join(x for x in (f"cuda-python {cp}" if cp else "",
                                                          f"pycuda {pyc}" if pyc else "") if x))
    else:
        r.add("CUDA host API", MISSING, "neither cuda-python nor pycuda (TensorRT runtime buffers need one)",
              "pip install 'edgesr[cuda]' (cuda-python); on Jetson: pip install pycuda")

    # -- TensorRT ---------------------------------------------------------------------------------
    trt: dict[str, Any] = {}
    spec = importlib.util.find_spec("tensorrt")
    if spec is None:
        r.add("TensorRT", MISSING, "not installed", TRT_JETSON if jet else TRT_PIP)
    elif spec.origin is None:  # a namespace package: tensorrt-stubs' .pyi files, not the library
        r.add("TensorRT", MISSING, "not installed (only the tensorrt-stubs type stubs are)", TRT_JETSON if jet else TRT_PIP)
    elif not probe_tensorrt:
        r.add("TensorRT", INFO, "installed (not probed)")
        trt = {"version": _version("tensorrt") or "?"}
    else:
        trt = _probe_trt()
        if "error" in trt:
            r.add("TensorRT", WARN, f"installed but 'import tensorrt' fails: {trt['error']}",
                  "reinstall TensorRT matching your CUDA/driver (python -c 'import tensorrt' shows the error)")
        else:
            extra = f"; builder: {trt['builder_error']}" if "builder_error" in trt else ""
            r.add("TensorRT", OK, f"{trt['version']}{extra}")
    # DLA
    if "dla_cores" in trt:
        n = trt["dla_cores"]
        r.add("DLA cores", OK if n else INFO, f"{n} (TensorRT Builder.num_DLA_cores)",
              "" if n else "")
    elif jet:
        g = _dla_guess(jet["model"])
        r.add("DLA cores", INFO, f"{'unknown' if g is None else g} (from the module name; TensorRT not available "
              "to ask)", TRT_JETSON)
    else:
        r.add("DLA cores", INFO, "0 (DLA exists only on Jetson AGX/NX modules)")

    # -- ONNX Runtime -----------------------------------------------------------------------------
    providers: list[str] = []
    try:
        import onnxruntime as ort

        providers = list(ort.get_available_providers())
        dist = "onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime"
        r.add("ONNX Runtime", OK, f"{dist} {ort.__version__}; providers: {', '.join(providers)}")
        if cuda_ok and "CUDAExecutionProvider" not in providers:
            r.add("ORT CUDA provider", MISSING, "GPU present but onnxruntime has no CUDAExecutionProvider",
                  "pip uninstall onnxruntime && pip install onnxruntime-gpu (Jetson: the JetPack onnxruntime-gpu wheel)")
    except ImportError:
        r.add("ONNX Runtime", MISSING, "not installed (it is the default CPU backend)", "pip install onnxruntime")

    # -- optional extras ----------------------------------------------------------------------------
    import cv2

    if hasattr(cv2, "dnn_superres"):
        r.add("OpenCV dnn_superres", OK, f"cv2 {cv2.__version__} (peer models in 'edgesr bench --peers')")
    else:
        r.add("OpenCV dnn_superres", MISSING, f"cv2 {cv2.__version__} has no dnn_superres (only for bench peers)",
              "pip install opencv-contrib-python (in place of opencv-python; never both)")
    if importlib.util.find_spec("matplotlib") is None:
        r.add("matplotlib", MISSING, "benchmark plots unavailable", "pip install 'edgesr[plots]'")
    else:
        r.add("matplotlib", OK, f"{_version('matplotlib')} (benchmark plots)")
    gst = "GStreamer" in cv2.getBuildInformation() and re.search(r"GStreamer:\s+YES", cv2.getBuildInformation())
    r.add("OpenCV GStreamer", OK if gst else INFO, "enabled (CSI/RTSP pipelines)" if gst else
          "not in this cv2 build (CSI cameras and hardware decode need it)",
          "" if gst else "on Jetson use the system python3-opencv (built with GStreamer), not the PyPI wheel")

    # -- usable backends -------------------------------------------------------------------------
    r.usable["pytorch cpu"] = ["fp32"]
    if providers:
        r.usable["onnxruntime cpu"] = ["fp32", "int8"]
    else:
        r.unusable["onnxruntime cpu"] = "onnxruntime missing; fix: pip install onnxruntime"
    if cuda_ok:
        r.usable["pytorch cuda"] = ["fp32", "fp16"]
    else:
        r.unusable["pytorch cuda"] = "no CUDA GPU visible to torch"
    if "CUDAExecutionProvider" in providers:
        r.usable["onnxruntime cuda"] = ["fp32", "fp16"]
    else:
        r.unusable["onnxruntime cuda"] = ("fix: pip install onnxruntime-gpu" if cuda_ok else
                                          "needs an NVIDIA GPU and onnxruntime-gpu")
    trt_ok = bool(trt) and "error" not in trt
    if trt_ok and cuda_ok and (cp or pyc):
        precs = ["fp32"]
        if trt.get("fast_fp16", cc is not None and cc >= (5, 3)):
            precs.append("fp16")
        if trt.get("fast_int8", cc is not None and cc >= (6, 1)):
            precs.append("int8")
        r.usable["tensorrt"] = precs
        if trt.get("dla_cores"):
            r.usable["tensorrt dla"] = ["fp16", "int8"]
    else:
        why = []
        if not cuda_ok:
            why.append("no CUDA GPU")
        if not trt_ok:
            why.append(f"TensorRT missing (fix: {TRT_JETSON if jet else TRT_PIP})")
        if not (cp or pyc):
            why.append("no cuda-python/pycuda (fix: pip install 'edgesr[cuda]')")
        r.unusable["tensorrt"] = "; ".join(why)
    return r
