"""Model card numbers for the bundled models, next to bicubic and OpenCV's dnn_superres peers,
all measured in this one run: Set5/Set14 Y-PSNR/SSIM (standard protocol), params, GFLOPs at
640x360 input, and CPU speed at 1280x720 output (ours through ONNX Runtime, peers through cv2.dnn).

    PYTHONPATH=/path/to/opencv-contrib python benchmarks/model_card.py --data ../shared/data \
        --peers ../shared/peers/opencv-superres

cv2.dnn_superres needs opencv-contrib-python (install it with `pip install --target DIR
opencv-contrib-python-headless` and put DIR first on PYTHONPATH, so the main cv2 stays untouched).
Writes benchmarks/results/model_card.json, edgesr/weights/card.json and docs/img/models_psnr_gflops.png.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import provenance, shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)
PUBLISHED = {  # Set5 Y-PSNR from the papers (GPU-trained), for the card's reference columns
    ("FSRCNN (paper)", 2): 37.05, ("FSRCNN (paper)", 3): 33.18, ("FSRCNN (paper)", 4): 30.72,
    ("DRN-S (paper)", 4): 32.68,
}
PEERS = {"fsrcnn": "FSRCNN", "fsrcnn-small": "FSRCNN-small", "espcn": "ESPCN", "lapsrn": "LapSRN"}


def _time(fn: Callable[[], Any], budget: float = 3.0, min_iters: int = 5) -> float:
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + budget
    while len(times) < min_iters or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return float(np.median(times))


def _peer_models(peers: Path) -> list[tuple[str, str, int, Path]]:
    out = []
    for pb in sorted(peers.glob("*.pb")):
        stem = pb.stem.lower()  # e.g. FSRCNN_x2, FSRCNN-small_x3, ESPCN_x4, LapSRN_x8
        algo, _, s = stem.rpartition("_x")
        if algo in PEERS and s.isdigit() and int(s) in (2, 3, 4):
            out.append((PEERS[algo], algo, int(s), pb))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder holding benchmark/ and train/ (default: the shared data/)")
    ap.add_argument("--peers", default=str(shared("peers", "opencv-superres", check=False)),
                    help="OpenCV dnn_superres .pb files (skipped when absent)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model_card.json"))
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of timing per model")
    ap.add_argument("--int8", nargs="*", default=["edge_nano_x2", "edge_tiny_x2", "edge_base_x2"],
                    help="bundled models that also get an INT8 row (Q/DQ, edgesr export's default method and "
                         "guard: percentile; 32 BSDS200 frames at 180x320); none: no INT8 rows")
    ap.add_argument("--int8-dir", default=str(ROOT / "runs" / "model_card_int8"), help="where the INT8 files go")
    ap.add_argument("--note", default=None, help="conditions of this run, stored in the record (e.g. what else ran)")
    a = ap.parse_args()
    a.data = a.data or str(shared("data"))

    import onnxruntime as ort

    import edgesr
    from edgesr.evaluation import bicubic_fn, evaluate
    from edgesr.hub import WEIGHTS, bundled_models
    from edgesr.machine import describe_machine
    from edgesr.runtimes.ort import ort_session
    from edgesr.models import count_flops, count_params

    sets = {n: Path(a.data) / "benchmark" / n for n in ("Set5", "Set14")}
    rows: list[dict[str, Any]] = []
    out_hw = (720, 1280)

    def add(name: str, kind: str, scale: int, fn: Callable[[np.ndarray], np.ndarray], params: int | None,
            gflops: float | None, speed: Callable[[], Any] | None, e2e: Callable[[], Any] | None = None) -> None:
        row: dict[str, Any] = {"name": name, "kind": kind, "scale": scale, "params": params, "gflops_360p": gflops}
        for sname, folder in sets.items():
            r = evaluate(fn, folder, scale, name=name)
            row[f"{sname}_psnr"], row[f"{sname}_ssim"] = round(r.psnr, 3), round(r.ssim, 4)
            row["bicubic_" + sname] = round(r.bicubic_psnr, 3)
        if speed is not None:
            dt = _time(speed, a.budget)
            row["ms_720p_out"], row["fps_720p_out"] = round(dt * 1e3, 2), round(1 / dt, 2)
        if e2e is not None:  # frame to frame: uint8 BGR in, uint8 BGR out, through edgesr.Upscaler
            dt = _time(e2e, a.budget)
            row["upscaler_fps_720p_out"] = round(1 / dt, 2)
        rows.append(row)
        print(json.dumps(row))

    for s in (2, 3, 4):
        lr = np.zeros((out_hw[0] // s, -(-out_hw[1] // s), 3), np.uint8)
        add("bicubic", "reference", s, bicubic_fn(s), 0, 0.0,
            lambda lr=lr, s=s: cv2.resize(lr, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC))

    for name in bundled_models():
        model = edgesr.load_model(WEIGHTS / f"{name}.pt")
        s = model.scale
        sess = ort_session(WEIGHTS / f"{name}.onnx")
        x = np.random.rand(1, 3, out_hw[0] // s, -(-out_hw[1] // s)).astype(np.float32)
        up = edgesr.Upscaler(WEIGHTS / f"{name}.onnx", color="rgb")
        frame = np.random.randint(0, 255, (out_hw[0] // s, -(-out_hw[1] // s), 3), np.uint8)
        add(name, "edgesr", s, up.run, count_params(model), count_flops(model, (360, 640)) / 1e9,
            lambda sess=sess, x=x: sess.run(None, {"input": x}), lambda up=up, f=frame: up.run(f))
        rows[-1]["checkpoint"] = checkpoint_facts(name, getattr(model, "meta", {}))
        if name in (a.int8 or []):
            q = int8_model(WEIGHTS / f"{name}.onnx", Path(a.int8_dir), Path(a.data) / "train" / "BSDS200")
            qs = ort_session(q)
            qup = edgesr.Upscaler(q, color="rgb")
            add(f"{name} INT8", "edgesr_int8", s, qup.run, count_params(model), count_flops(model, (360, 640)) / 1e9,
                lambda qs=qs, x=x: qs.run(None, {"input": x}), lambda up=qup, f=frame: up.run(f))

    if hasattr(cv2, "dnn_superres") and Path(a.peers).is_dir():
        for label, algo, s, pb in _peer_models(Path(a.peers)):
            sr = cv2.dnn_superres.DnnSuperResImpl_create()
            sr.readModel(str(pb))
            sr.setModel("fsrcnn" if algo.startswith("fsrcnn") else algo, s)
            fn = lambda lr, sr=sr: sr.upsample(np.ascontiguousarray(lr[..., ::-1]))[..., ::-1]  # noqa: E731
            gflops = peer_gflops(algo, s)
            lr = np.random.randint(0, 255, (out_hw[0] // s, -(-out_hw[1] // s), 3), np.uint8)
            add(f"{label} x{s} (OpenCV)", "peer", s, fn, None, gflops, lambda sr=sr, lr=lr: sr.upsample(lr))
    else:
        print("cv2.dnn_superres not available: peers skipped (install opencv-contrib-python)")

    card = {"rows": rows, "published_set5": {f"{k[0]} x{k[1]}": v for k, v in PUBLISHED.items()},
            "machine": describe_machine(), "onnxruntime": ort.__version__,
            "provenance": provenance({k: v for k, v in vars(a).items() if k != "note"}, a.note)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(card, indent=2))
    (WEIGHTS / "card.json").write_text(json.dumps({r["name"]: r for r in rows if r["kind"] == "edgesr"}, indent=2))
    plot(rows, ROOT / "docs" / "img" / "models_psnr_gflops.png")
    pareto(rows, ROOT / "docs" / "img" / "models_pareto_ms.png")
    md = Path(a.out).with_suffix(".md")
    md.write_text(markdown(rows))
    print(f"wrote {md} (the model card table for docs/models.md)")


def checkpoint_facts(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Which checkpoint a bundled model is and why: its metadata, else benchmarks/results/bundled_provenance.json."""
    prov = ROOT / "benchmarks" / "results" / "bundled_provenance.json"
    rows = {r["name"]: r for r in json.loads(prov.read_text())["models"]} if prov.is_file() else {}
    if "selection" in meta:
        return {"rule": meta["selection"], "updates": meta.get("updates"), "minutes": meta.get("train_minutes")}
    r = rows.get(name, {})
    return {"rule": r.get("rule"), "updates": r.get("updates"), "minutes": r.get("minutes")}


def int8_model(fp32: Path, out_dir: Path, calib: Path) -> Path:
    """INT8 with ``edgesr export onnx --int8``'s default method and guard (percentile), calibrated on 32
    BSDS200 frames resized to 180x320; made once per file."""
    from edgesr.calibration import quantize_onnx

    out = out_dir / f"{fp32.stem}_int8.onnx"
    if not out.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        rep = quantize_onnx(fp32, out, calib, max_frames=32, size=(180, 320), cache_dir=out_dir / "cache")
        print(json.dumps({"int8": str(out), "passed": rep.passed, "excluded": rep.excluded_nodes,
                          "quality": rep.quality}, default=str))
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The docs/models.md table: one line per row, grouped by scale, ours in bold."""
    head = ("| model | scale | params | GFLOPs @640x360 | Set5 PSNR / SSIM | Set14 PSNR / SSIM | fps, 720p out (model) "
            "| fps, 720p out (Upscaler, uint8 frame to frame) |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for s in (2, 3, 4):
        for r in rows:
            if r["scale"] != s:
                continue
            ours = r["kind"].startswith("edgesr")
            name = f"**{r['name']}** (ours)" if ours else r["name"]
            params = f"{r['params']:,}" if r.get("params") is not None else "—"
            gf = f"{r['gflops_360p']:.2f}" if r.get("gflops_360p") is not None else "—"
            s5 = f"{r['Set5_psnr']:.2f} / {r['Set5_ssim']:.4f}"
            s14 = f"{r['Set14_psnr']:.2f} / {r['Set14_ssim']:.4f}"
            fps = f"{r['fps_720p_out']:.2f}" if "fps_720p_out" in r else "—"
            e2e = f"{r['upscaler_fps_720p_out']:.2f}" if "upscaler_fps_720p_out" in r else ""
            lines.append(f"| {name} | x{s} | {params} | {gf} | {s5} | {s14} | {fps} | {e2e} |")
        for (label, ps), v in PUBLISHED.items():
            if ps == s:
                lines.append(f"| {label} | x{s} | | | {v:.2f} | | | |")
    return head + "\n".join(lines) + "\n"


def peer_gflops(algo: str, s: int, hw: tuple[int, int] = (360, 640)) -> float | None:
    """FLOPs (2 x MACs) of the published peer architectures on the Y channel at ``hw`` LR input.

    FSRCNN(d=56, s=12, m=4) and FSRCNN-small(d=32, s=5, m=1): conv 5x5, 1x1 shrink, m 3x3
    mapping, 1x1 expand in LR space, then a 9x9 deconvolution whose cost is paid per HR pixel.
    ESPCN: 5x5x64, 3x3x32, 3x3x(s*s) convs in LR space + pixel shuffle. LapSRN: not counted.
    (cv2.dnn's getFLOPS does not accept these graphs in OpenCV 5.0.)
    """
    if algo in ("fsrcnn", "fsrcnn-small"):
        d, sh, m = (56, 12, 4) if algo == "fsrcnn" else (32, 5, 1)
        per_lr = 25 * d + d * sh + m * 9 * sh * sh + sh * d + 81 * d * s * s
    elif algo == "espcn":
        per_lr = 25 * 64 + 9 * 64 * 32 + 9 * 32 * s * s
    else:
        return None
    return 2 * per_lr * hw[0] * hw[1] / 1e9


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, s in zip(axes, (2, 3, 4)):
        for r in rows:
            if r["scale"] != s or r.get("gflops_360p") is None:
                continue
            if r["kind"] == "edgesr_int8":
                continue  # same FLOPs as its FP32 row: shown in the Pareto plot instead
            style = {"edgesr": ("o", "C0"), "peer": ("s", "C1"), "reference": ("x", "k")}[r["kind"]]
            g = max(r["gflops_360p"], 0.05)
            ax.scatter(g, r["Set5_psnr"], marker=style[0], color=style[1], s=50)
            ax.annotate(r["name"].replace(" (OpenCV)", ""), (g, r["Set5_psnr"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        for (label, ps), v in PUBLISHED.items():
            if ps == s:
                ax.axhline(v, ls="--", lw=0.8, color="gray")
                ax.text(0.06, v, label, fontsize=7, va="bottom", color="gray")
        ax.set_xscale("log")
        ax.set_title(f"x{s}: Set5 Y-PSNR vs GFLOPs (640x360 input)")
        ax.set_xlabel("GFLOPs per frame (log)")
        ax.set_ylabel("Set5 PSNR (dB)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def pareto(rows: list[dict[str, Any]], path: Path) -> None:
    """x2 at 360p -> 720p: Y-PSNR (Set5, Set14) vs measured ms per frame (bare runtime), one run;
    the upper-left frontier is what a deployment can pick from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"edgesr": ("o", "C0"), "edgesr_int8": ("^", "C2"), "peer": ("s", "C1"), "reference": ("x", "k")}
    x2 = [r for r in rows if r["scale"] == 2 and "ms_720p_out" in r]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, st in zip(axes, ("Set5", "Set14")):
        pts = sorted((max(r["ms_720p_out"], 0.1), r[f"{st}_psnr"]) for r in x2)
        front, best = [], -1.0
        for ms, v in pts:
            if v > best:
                front.append((ms, v))
                best = v
        ax.plot(*zip(*front), color="gray", lw=0.8, ls=":", label="Pareto frontier")
        for r in x2:
            m, c = styles[r["kind"]]
            ms = max(r["ms_720p_out"], 0.1)
            ax.scatter(ms, r[f"{st}_psnr"], marker=m, color=c, s=50)
            ax.annotate(r["name"].replace(" (OpenCV)", ""), (ms, r[f"{st}_psnr"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("ms per frame, 640x360 -> 1280x720 (ONNX Runtime / OpenCV, this CPU; log)")
        ax.set_ylabel(f"{st} Y-PSNR (dB)")
        ax.set_title(f"x2 {st}: quality vs time (o FP32, ^ INT8, s OpenCV peers)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
