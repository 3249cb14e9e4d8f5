"""edgesr export {onnx,trt,triton}: one CLI over edgesr.export (heavy imports happen inside run)."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from edgesr.errors import ConfigError

PRECISIONS = ("fp32", "fp16", "int8")
CALIB_METHODS = ("minmax", "entropy", "percentile")


def _precision_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--precision", choices=PRECISIONS, default=None, help="numeric precision (default: fp32 / the graph's)")
    g.add_argument("--fp16", dest="precision", action="store_const", const="fp16", help="same as --precision fp16")
    g.add_argument("--int8", dest="precision", action="store_const", const="int8", help="same as --precision int8")
    p.add_argument("--calib", metavar="DIR|VIDEO", help="calibration images folder or video (int8 only)")
    p.add_argument("--calib-method", choices=CALIB_METHODS, default=None, help="calibration method (int8 only; "
                   "default percentile: best Set5 quality at equal speed, docs/calibration.md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", required=True, metavar="TARGET")

    o = sub.add_parser("onnx", help="PyTorch checkpoint -> verified, simplified ONNX")
    o.add_argument("model", help="checkpoint saved by edgesr.save_model (.pt) or a bundled name (edge_tiny_x2)")
    o.add_argument("-o", "--output", required=True, help="output .onnx file")
    o.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    o.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    shp = o.add_mutually_exclusive_group()
    shp.add_argument("--dynamic", action="store_true", help="symbolic batch/height/width (the default)")
    shp.add_argument("--shape", help="static NxCxHxW input instead, e.g. 1x3x360x640")
    o.add_argument("--simplify", action=argparse.BooleanOptionalAction, default=True,
                   help="simplify with onnxsim, falling back to onnxslim (default: on)")
    o.add_argument("--image", help="real image for the PyTorch/ONNX Runtime parity check (default: a bundled photo)")
    o.add_argument("--atol", type=float, default=None, help="parity tolerance on [0,1] outputs "
                   "(default 1e-3 fp32, 2e-2 fp16, none for int8)")
    o.add_argument("--min-psnr", type=float, default=None, help="parity PSNR floor in dB (default: 25 for int8)")
    _precision_args(o)
    o.add_argument("--calib-size", metavar="N|HxW", default=None, help="centre-crop calibration frames to this LR "
                   "size (int8 only; default: mixed sizes are cropped to the smallest, at most 256)")

    t = sub.add_parser("trt", help="ONNX -> TensorRT engine (+ model.engine.json sidecar)")
    t.add_argument("onnx", help="ONNX file from 'edgesr export onnx', or a bundled name (edge_tiny_x2)")
    t.add_argument("-o", "--output", help="engine file (default: beside the ONNX, .engine; for a bundled name: "
                   "NAME.engine here)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing engine built from other settings "
                   "(one whose sidecar matches is reused)")
    _precision_args(t)
    t.add_argument("--shape", dest="fixed_shape", metavar="HxW", help="a fixed-shape engine for one frame size "
                   "(min = opt = max; e.g. 360x640 for a 360p camera): faster than a dynamic profile")
    t.add_argument("--min", dest="min_shape", metavar="NxCxHxW", help="profile minimum input (default 1x3x16x16)")
    t.add_argument("--opt", dest="opt_shape", metavar="NxCxHxW", help="profile optimum input (default 1x3x360x640)")
    t.add_argument("--max", dest="max_shape", metavar="NxCxHxW", help="profile maximum input (default 1x3x1920x1920: "
                   "covers 1080p landscape and portrait)")
    t.add_argument("--workspace", type=int, default=1024, metavar="MiB", help="builder workspace (default 1024 MiB)")
    t.add_argument("--timing-cache", metavar="FILE", help="timing cache reused across builds "
                   "(default: ENGINE.timing.cache)")
    t.add_argument("--dla-core", type=int, default=None, metavar="N", help="build for DLA core N (GPU fallback on)")
    t.add_argument("--force", action="store_true", help="rebuild even if a matching engine exists")

    tr = sub.add_parser("triton", help="model repository for Triton Inference Server")
    tr.add_argument("src", help="ONNX file or engine, or a bundled name (edge_tiny_x2)")
    tr.add_argument("-o", "--output", required=True, metavar="REPO_DIR", help="model repository folder")
    tr.add_argument("--name", default=None, help="model name in the repository (default: from SRC)")
    tr.add_argument("--max-batch", type=int, default=8, help="max_batch_size (default 8)")
    tr.add_argument("--instances", type=int, default=1, help="model instances per GPU (default 1)")


def parse_size(text: str, what: str) -> tuple[int, int]:
    """``"256"`` or ``"180x320"`` (H x W) -> (H, W) of positive ints; a one-line error otherwise."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"{what} {text!r} is not a size; use N (square) or HxW, e.g. 256 or 180x320")
    h, w = int(parts[0]), int(parts[-1])
    return h, w


def check_args(a: argparse.Namespace) -> None:
    """Options that do not apply raise instead of being ignored."""
    if getattr(a, "calib", None) and a.precision != "int8":
        raise ConfigError("--calib only applies to int8; add --int8 (or drop --calib)")
    if getattr(a, "calib_method", None) and a.precision != "int8":
        raise ConfigError("--calib-method only applies to int8; add --int8 --calib DATA")
    if getattr(a, "calib_size", None) and a.precision != "int8":
        raise ConfigError("--calib-size only applies to int8; add --int8 --calib DATA")
    if a.target == "onnx" and a.precision == "int8" and not a.calib:
        raise ConfigError("--int8 needs calibration data: add --calib DIR|VIDEO (real frames like the ones you upscale)")


def check_outputs(a: argparse.Namespace) -> None:
    """-o of the right kind, in a writable folder, not an existing file unless asked (before any import)."""
    from edgesr.overwrite import check_output, check_writable

    if a.target == "onnx":
        check_output(a.output, "onnx", overwrite=a.overwrite)
    elif a.target == "trt" and a.output:
        check_output(a.output, "engine", overwrite=True)  # existing: reused if it matches, else needs --overwrite
    elif a.target == "triton":
        check_writable(a.output, a.output)


def run(a: argparse.Namespace) -> int:
    check_args(a)
    check_outputs(a)
    return {"onnx": _run_onnx, "trt": _run_trt, "triton": _run_triton}[a.target](a)


def _print_report(r: object) -> None:
    print(f"parity (ONNX Runtime vs PyTorch): {r}")


def _run_onnx(a: argparse.Namespace) -> int:
    from edgesr.export.onnx import export_onnx, read_metadata, set_metadata
    from edgesr.export.parity import check_parity
    from edgesr.export.trt import parse_shape
    from edgesr.models import load_model

    from edgesr.hub import model_file

    shape = parse_shape(a.shape) if a.shape else None
    model = load_model(model_file(a.model, "pt"))
    precision = a.precision or "fp32"
    atol = a.atol if a.atol is not None else {"fp32": 1e-3, "fp16": 2e-2, "int8": float("inf")}[precision]
    out = Path(a.output)
    if precision == "fp32":
        if a.min_psnr is not None:
            raise ConfigError("--min-psnr only applies to --fp16/--int8; use --atol for fp32")
        export_onnx(model, out, opset=a.opset, dynamic=shape is None, shape=shape, simplify=a.simplify,
                    image=a.image, atol=atol, on_report=_print_report, overwrite=a.overwrite)
        print(f"wrote {out}")
        return 0
    import onnx

    from edgesr import calibration  # owned by the calibration layer; imported only for fp16/int8

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".edgesr-export-") as work:
        fp32 = Path(work) / "fp32.onnx"
        export_onnx(model, fp32, opset=a.opset, dynamic=shape is None, shape=shape, simplify=a.simplify,
                    image=a.image, on_report=lambda r: print(f"parity of the fp32 export: {r}"))
        conv = Path(work) / f"{precision}.onnx"
        if precision == "fp16":
            calibration.to_fp16(fp32, conv)
        else:
            crop = parse_size(a.calib_size, "--calib-size") if a.calib_size else None
            calibration.quantize_onnx(fp32, conv, calib=a.calib, method=a.calib_method or "percentile", crop=crop)
        proto = onnx.load(str(conv))
        set_metadata(proto, {**read_metadata(fp32), "edgesr.precision": precision})
        onnx.save(proto, str(conv))
        min_psnr = a.min_psnr if a.min_psnr is not None else (25.0 if precision == "int8" else None)
        size = (shape[2], shape[3]) if shape else None
        report = check_parity(model, conv, a.image, atol=atol, min_psnr=min_psnr, size=size,
                              batch=shape[0] if shape else 1)
        _print_report(report)
        report.raise_if_failed(f"the {precision} ONNX")
        os.replace(conv, out)
    print(f"wrote {out} ({precision})")
    return 0


def _run_trt(a: argparse.Namespace) -> int:
    from edgesr.export.trt import build_engine, read_sidecar
    from edgesr.hub import is_bundled_name, model_file

    onnx_path = model_file(a.onnx, "onnx")
    output = a.output or (Path(f"{a.onnx}.engine") if is_bundled_name(a.onnx) else None)  # never into the package
    path = build_engine(onnx_path, output, overwrite=a.overwrite, precision=a.precision, calib=a.calib,
                        calib_method=a.calib_method or "percentile", min_shape=a.min_shape, opt_shape=a.opt_shape,
                        max_shape=a.max_shape, workspace_mib=a.workspace, timing_cache=a.timing_cache,
                        dla_core=a.dla_core, force=a.force, verbose=a.verbose, shape=a.fixed_shape)
    side = read_sidecar(path)
    print(f"engine {path}: TensorRT {side['tensorrt']}, {side['gpu']} (sm {side['compute_capability']}), "
          f"{side['precision']}, profile {side['profiles'][0]}")
    return 0


def _run_triton(a: argparse.Namespace) -> int:
    from edgesr.export.triton import export_triton

    if a.max_batch < 1:
        raise ConfigError(f"--max-batch must be >= 1, got {a.max_batch}")
    from edgesr.hub import model_file

    src = model_file(a.src, "onnx")
    out = export_triton(src, a.output, name=a.name, max_batch_size=a.max_batch, instances=a.instances)
    print(f"wrote Triton model repository {out or a.output}")
    return 0
