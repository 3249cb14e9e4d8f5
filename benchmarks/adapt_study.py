"""Adaptation study (issue 16): ``edgesr.adapt`` on the LR of each held-out protocol, scored against the HR.

For each protocol of ``edgesr.data.degrade.held_out_protocols()`` (on Set14 HR, never trained on, mod-cropped
to the scale): make the LR of every image and write it as PNG to ``WORK/<protocol>/lr/``; adapt each
``--model`` with ``edgesr.adapt`` on that LR folder alone (no HR: the HR is only used to score), mixed
with paired batches of the ``--data`` HR folders; then score bicubic, the base model, the adapted model
and each ``--compare`` model on the protocol's LR/HR pairs: PSNR / SSIM on the BT.601 Y channel with a
``scale``-pixel shave, as benchmarks/real_world_eval.py and edgesr.evaluate do.

Setting: the adapted model is scored on the same LR images it was adapted on (the user's own frames:
the paper's semi-supervised / transductive setting). ``adapt`` holds out every 5th frame for its own
report; the scores are also given separately on the frames it trained on and on those it did not.
Each run also records the adapt report's held-out dual consistency (dual PSNR D(P(x)) vs x) and
sharpness, before and after.

``--ablation``: on the first protocol (blur_bicubic_jpeg50) only, one factor at a time away from the
default (dual_weight 1, ratio 1, all images, --steps, --data): dual_weight in {0.1, 1, 3}, ratio in
{0, 0.5, 1, 2} (0 is refused by AdaptConfig and recorded as skipped), frames in {4, 8, all},
steps in {100, 300, 600} (--ablation-steps), and frames only (no --data).

Each run lives in ``WORK/<protocol>/<model>/<run key>/`` (``adapted.pt``, its report, ``adapted.pt.work``
and ``result.json``); a run whose result.json exists with the same settings is skipped, an interrupted
one is resumed (``edgesr.adapt(..., resume=True)``).

    python benchmarks/adapt_study.py [--ablation] [--compare tiny_real=path/model.pt] [--limit 2 --steps 3]

Writes benchmarks/results/adapt_study.json (or --json) and prints Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)
from real_world_eval import _load_images  # noqa: E402  (same images, same mod-crop and SSIM size check)

log = logging.getLogger("adapt_study")
Image = tuple[str, np.ndarray]
SETTING = ("transductive (the paper's semi-supervised setting): each model is adapted on the protocol's LR "
           "images themselves, without their HR, and scored on those same LR images against their HR; "
           "'adapt_train' are the images the fine-tune trained on, 'not_trained' the rest (adapt's held-out "
           "frames and, with fewer frames, the images not selected)")
ABLATION_PROTOCOL = "blur_bicubic_jpeg50"


# ------------------------------------------------------------------------------------ helpers
def label_of(spec: str) -> tuple[str, str]:
    """(label, spec) of a ``--model`` / ``--compare`` entry: ``label=path``, a bundled name, or a path."""
    if "=" in spec:
        label, _, path = spec.partition("=")
        return label, path
    p = Path(spec)
    if p.suffix and p.stem in ("model", "best", "last"):
        return f"{p.parent.name}/{p.name}", spec
    return (p.stem if p.suffix else spec), spec


def open_upscaler(spec: str, scale: int, threads: int) -> Any:
    """A bundled name runs its .pt (the PyTorch backend, as the adapted .pt does); .onnx gets ``threads``."""
    from edgesr import Upscaler
    from edgesr.hub import bundled_model_by_name, is_bundled_name

    path = str(bundled_model_by_name(spec, format="pt")) if is_bundled_name(spec) else spec
    extra = {"threads": threads} if path.endswith(".onnx") else {}
    return Upscaler(path, color="rgb", scale=scale, **extra)


def score(fn: Callable[[np.ndarray], np.ndarray], lrs: list[np.ndarray], images: list[Image],
          scale: int) -> dict[str, Any]:
    from edgesr.errors import DataError
    from edgesr.metrics import psnr, ssim

    per: dict[str, list[float]] = {}
    for lr, (name, hr) in zip(lrs, images):
        sr = fn(lr)
        if sr.shape != hr.shape:
            raise DataError(f"{name}: output {sr.shape} != HR {hr.shape}; is it an x{scale} model?")
        per[name] = [round(psnr(sr, hr, scale), 4), round(ssim(sr, hr, scale), 5)]
    return {**means(per, list(per)), "images": per}


def means(per: dict[str, list[float]], names: list[str]) -> dict[str, Any]:
    if not names:
        return {"psnr": None, "ssim": None, "n": 0}
    v = np.array([per[n] for n in names])
    return {"psnr": round(float(v[:, 0].mean()), 3), "ssim": round(float(v[:, 1].mean()), 4), "n": len(names)}


def write_json(path: Path, obj: Any) -> None:
    from edgesr.fileio import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def make_lr(images: list[Image], name: str, proto: Callable[[np.ndarray, int], np.ndarray], scale: int,
            folder: Path) -> list[np.ndarray]:
    """The protocol's LR of every image, written once as ``folder/<image>.png`` (lossless: what adapt reads
    back is exactly what is scored); rewritten if the folder holds another set."""
    from edgesr.data import read_rgb, write_image

    marker = folder / "lr.json"
    want = {"protocol": name, "scale": scale, "images": [n for n, _ in images]}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return [read_rgb(folder / f"{n}.png") for n, _ in images]
    if folder.exists():
        for f in folder.iterdir():  # another image set (e.g. an earlier --limit): the adapt source must be exact
            if f.suffix == ".png" or f.name == "lr.json":
                f.unlink()
    lrs = [proto(hr, scale) for _, hr in images]
    for (n, _), lr in zip(images, lrs):
        write_image(folder / f"{n}.png", lr)
    write_json(marker, want)
    return lrs


# --------------------------------------------------------------------------------- adapt runs
@dataclass(frozen=True)
class Variant:
    factor: str  # "default", "dual_weight", "ratio", "frames", "steps", "frames_only"
    value: Any
    dual_weight: float
    ratio: float
    frames: int  # images given to adapt (max_frames), evenly spaced
    steps: int
    data: tuple[str, ...]

    @property
    def key(self) -> str:
        src = "data" if self.data else "framesonly"
        return f"w{self.dual_weight:g}_r{self.ratio:g}_n{self.frames}_s{self.steps}_{src}"


def holdout_share(n: int) -> float:
    """adapt's default 0.2 (every 5th frame) when it holds out one at least; else the last frame of 3..4,
    and none of 2 (adapt needs 2 training frames and, with a share > 0, one held out)."""
    from edgesr.adaptation import held_out

    if sum(held_out(n, 0.2)) >= 1:
        return 0.2
    return 1.0 / n if n >= 3 else 0.0


def run_adapt(model: str, lr_dir: Path, lrs: list[np.ndarray], images: list[Image], run_dir: Path, v: Variant,
              a: argparse.Namespace, base_scores: dict[str, Any]) -> dict[str, Any]:
    """Adapt ``model`` to ``lr_dir`` with the settings of ``v`` (skipped if done, resumed if interrupted),
    and score the result on every LR/HR pair."""
    from edgesr.adaptation import adapt  # what edgesr.adapt(...) calls

    hold = holdout_share(v.frames)
    cfg = {"data": list(v.data), "ratio": v.ratio, "steps": v.steps, "dual_weight": v.dual_weight,
           "max_frames": v.frames, "holdout": hold, "dual_steps": a.dual_steps, "threads": a.threads,
           "batch": a.batch, "patch": a.patch, "degrade": a.degrade, "seed": a.seed, "progress": a.progress}
    settings = {"model": model, "source": str(lr_dir), "images": [n for n, _ in images], "adapt": cfg}
    result_file = run_dir / "result.json"
    if result_file.is_file():
        saved = json.loads(result_file.read_text())
        if saved["settings"] == settings:
            log.info("skip %s: %s exists", run_dir, result_file.name)
            return saved
        raise SystemExit(f"{result_file} holds a run with other settings; remove {run_dir} or pass another --work")
    out = run_dir / "adapted.pt"
    report_file = out.with_name(out.stem + ".report.json")
    t0 = time.perf_counter()
    if out.is_file() and report_file.is_file():  # adapted, not yet scored
        report = json.loads(report_file.read_text())
    else:
        work = out.with_name(out.name + ".work")
        log.info("adapt %s on %s (%s)%s", model, lr_dir, v.key, ": resuming" if work.exists() else "")
        report = adapt(model, lr_dir, out, resume=work.exists(), overwrite=out.is_file(),  # ours, unreported
                       **{**cfg, "data": tuple(v.data)}).to_dict()
    frames_json = json.loads((out.with_name(out.name + ".work") / "frames.json").read_text())
    names = [n for n, _ in images]  # adapt names a frame by its index in the sorted folder: 000004.png
    trained = [names[int(Path(f).stem)] for f in frames_json["train"]]
    held = [names[int(Path(f).stem)] for f in frames_json["holdout"]]
    up = open_upscaler(str(out), a.scale, a.threads)
    try:
        s = score(up.run, lrs, images, a.scale)
    finally:
        up.close()
    rest = [n for n in names if n not in trained]
    subsets = {k: {"adapted": means(s["images"], sub), "base": means(base_scores["images"], sub)}
               for k, sub in (("adapt_train", trained), ("not_trained", rest))}
    res = {"settings": settings, "run": str(run_dir), "variant": {"factor": v.factor, "value": v.value, "key": v.key},
           "frames": {"train": trained, "holdout": held, "not_selected": [n for n in rest if n not in held]},
           "scores": s, "subsets": subsets, "report": report,
           "holdout_dual": _dual(report), "seconds": round(report.get("seconds", 0.0), 1),
           "score_seconds": round(time.perf_counter() - t0, 1)}
    write_json(result_file, res)
    return res


def _dual(report: dict[str, Any]) -> dict[str, Any]:
    """The report's held-out dual consistency and sharpness, before -> after (the training frames when
    nothing was held out)."""
    which = "holdout" if report.get("holdout") else "train"
    c = report[which]
    return {"frames": which, "n": c["after"]["frames"],
            **{f"{k}_{t}": round(c[t][k], 3) for k in ("dual_psnr", "sharpness") for t in ("before", "after")}}


def ablation_variants(default: Variant, n_images: int, steps_list: list[int]) -> tuple[list[Variant], list[dict[str, Any]]]:
    """One factor at a time away from ``default``; values equal to the default reuse it. Also what was
    skipped, and why."""
    from dataclasses import replace

    from edgesr.adaptation import AdaptConfig
    from edgesr.errors import ConfigError

    out: list[Variant] = [default]
    skipped: list[dict[str, Any]] = []

    def add(v: Variant) -> None:
        if v.key not in {u.key for u in out}:
            out.append(v)

    for w in (0.1, 1.0, 3.0):
        add(replace(default, factor="dual_weight", value=w, dual_weight=w))
    for r in (0.0, 0.5, 1.0, 2.0):
        try:
            AdaptConfig(ratio=r, data=default.data)
        except ConfigError as e:
            skipped.append({"factor": "ratio", "value": r, "why": f"edgesr.AdaptConfig refuses it: {e}. adapt trains "
                            "the frames through unpaired batches, so ratio 0 (paired only) would ignore the frames: a "
                            "plain fine-tune on --data, not an adaptation"})
            continue
        add(replace(default, factor="ratio", value=r, ratio=r))
    for n in (4, 8, n_images):
        if n > n_images:
            skipped.append({"factor": "frames", "value": n, "why": f"only {n_images} images"})
            continue
        add(replace(default, factor="frames", value=n, frames=n))
    for s in steps_list:
        add(replace(default, factor="steps", value=s, steps=s))
    if default.data:
        add(replace(default, factor="frames_only", value="no --data", data=()))
    return out, skipped


# ----------------------------------------------------------------------------------- tables
def _cell(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("psnr") is None else f"{r['psnr']:.2f} / {r['ssim']:.4f}"


def _delta(sub: dict[str, Any]) -> str:
    a, b = sub["adapted"], sub["base"]
    return "-" if not a["n"] else f"{a['psnr'] - b['psnr']:+.2f} ({a['n']})"


def main_table(res: dict[str, Any]) -> str:
    protos = list(res)
    methods = list(res[protos[0]]["methods"])
    rows = ["| protocol | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for p in protos:
        rows.append(f"| {p} | " + " | ".join(_cell(res[p]["methods"].get(m)) for m in methods) + " |")
    rows += ["", "| protocol | model | ΔPSNR vs base: all | adapt-trained images | not trained | "
             "held-out dual PSNR before → after | held-out sharpness before → after | adapt s |",
             "|---|---|---|---|---|---|---|---|"]
    for p in protos:
        for m, r in res[p]["adapt"].items():
            d = r["holdout_dual"]
            all_d = r["scores"]["psnr"] - res[p]["methods"][m]["psnr"]
            rows.append(f"| {p} | {m} | {all_d:+.2f} | {_delta(r['subsets']['adapt_train'])} | "
                        f"{_delta(r['subsets']['not_trained'])} | {d['dual_psnr_before']:.2f} → {d['dual_psnr_after']:.2f}"
                        f"{'' if d['frames'] == 'holdout' else ' (train)'} | {d['sharpness_before']:.2f} → "
                        f"{d['sharpness_after']:.2f} | {r['seconds']:.0f} |")
    return "\n".join(rows)


def ablation_table(abl: dict[str, Any]) -> str:
    rows = []
    for m, a in abl.items():
        rows += [f"{m} on {ABLATION_PROTOCOL} (base {_cell(a['base'])}, bicubic {_cell(a['bicubic'])}):", "",
                 "| factor | value | settings | PSNR / SSIM (all) | Δ all | Δ adapt-trained (n) | Δ not trained (n) | "
                 "held-out dual PSNR before → after | held-out sharpness after | adapt s |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in a["runs"]:
            d, v = r["holdout_dual"], r["variant"]
            rows.append(f"| {v['factor']} | {v['value']} | {v['key']} | {_cell(r['scores'])} | "
                        f"{r['scores']['psnr'] - a['base']['psnr']:+.2f} | {_delta(r['subsets']['adapt_train'])} | "
                        f"{_delta(r['subsets']['not_trained'])} | {d['dual_psnr_before']:.2f} → {d['dual_psnr_after']:.2f}"
                        f"{'' if d['frames'] == 'holdout' else ' (train)'} | {d['sharpness_after']:.2f} | "
                        f"{r['seconds']:.0f} |")
        for s in a["skipped"]:
            rows.append(f"\nskipped {s['factor']} = {s['value']}: {s['why']}")
        rows.append("")
    return "\n".join(rows)


# -------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    from edgesr.adaptation import AdaptConfig

    dflt = AdaptConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", default=["edge_tiny_x2"],
                    help="base model(s) to adapt: bundled names or .pt paths (label=path to name one)")
    ap.add_argument("--compare", nargs="*", default=[], help="extra models scored as they are (e.g. a 'real' variant .pt)")
    ap.add_argument("--data", nargs="*", default=None,
                    help="HR regulariser folders (paired batches; default: the shared T91 and BSDS200); "
                         "none: frames only")
    ap.add_argument("--hr", type=Path, default=None,
                    help="HR images never trained on, for the LR and the scores (default: the shared Set14)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--protocols", nargs="*", default=None, help="subset of the held-out protocols")
    ap.add_argument("--steps", type=int, default=dflt.steps, help=f"adapt steps (default {dflt.steps})")
    ap.add_argument("--dual-steps", type=int, default=dflt.dual_steps,
                    help=f"steps fitting the dual of a model saved without one (default {dflt.dual_steps})")
    ap.add_argument("--batch", type=int, default=dflt.batch)
    ap.add_argument("--patch", type=int, default=dflt.patch)
    ap.add_argument("--degrade", default=dflt.degrade, help="LR of the paired --data (default: bicubic)")
    ap.add_argument("--seed", type=int, default=dflt.seed)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ablation", action="store_true", help=f"also the one-factor ablation on {ABLATION_PROTOCOL}")
    ap.add_argument("--ablation-steps", type=int, nargs="+", default=[100, 300, 600])
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "adapt_study")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "adapt_study.json")
    ap.add_argument("--progress", action="store_true", help="tqdm bars of adapt")
    a = ap.parse_args(argv)
    if a.data is None:
        a.data = [str(shared("data", "train", n)) for n in ("T91", "BSDS200")]
    a.hr = a.hr or shared("data", "benchmark", "Set14")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)

    import torch

    from edgesr.data.degrade import held_out_protocols
    from edgesr.errors import ConfigError
    from edgesr.data.bicubic import imresize

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    protos = held_out_protocols()
    main_protos = list(a.protocols or protos)
    names = list(main_protos)
    bad = [n for n in names if n not in protos]
    if bad:
        raise ConfigError(f"unknown protocol(s) {', '.join(bad)}; choose from {', '.join(protos)}")
    if a.ablation and ABLATION_PROTOCOL not in names:
        names.append(ABLATION_PROTOCOL)
    images = _load_images(a.hr, a.scale, a.limit)
    models = [label_of(m) for m in a.model]
    compare = [label_of(m) for m in a.compare]
    data = tuple(a.data)
    default = Variant("default", "-", dflt.dual_weight, dflt.ratio, len(images), a.steps, data)
    out: dict[str, Any] = {
        "setting": SETTING, "hr": str(a.hr), "scale": a.scale, "limit": a.limit, "images": [n for n, _ in images],
        "metric": f"PSNR (dB) / SSIM on BT.601 Y, shave {a.scale}", "models": dict(models), "compare": dict(compare),
        "data": list(data), "default": {"dual_weight": default.dual_weight, "ratio": default.ratio,
                                        "frames": default.frames, "steps": a.steps, "dual_steps": a.dual_steps,
                                        "batch": a.batch, "patch": a.patch, "lr": dflt.lr, "degrade": a.degrade},
        "protocols": {n: protos[n].description for n in names}, "main": {}, "ablation": {}}

    def save() -> None:
        out["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(a.json, out)

    for pname in names:
        lr_dir = a.work / pname / "lr"
        lrs = make_lr(images, pname, protos[pname], a.scale, lr_dir)
        methods: dict[str, Any] = {"bicubic": score(lambda x: imresize(x, a.scale), lrs, images, a.scale)}
        for label, spec in [*models, *compare]:
            up = open_upscaler(spec, a.scale, a.threads)
            try:
                methods[label] = score(up.run, lrs, images, a.scale)
            finally:
                up.close()
        ablate = a.ablation and pname == ABLATION_PROTOCOL
        adapted: dict[str, Any] = {}
        for label, spec in models:
            variants, skipped = ablation_variants(default, len(images), a.ablation_steps) if ablate else ([default], [])
            runs = []
            for v in variants:
                runs.append(run_adapt(spec, lr_dir, lrs, images, a.work / pname / label.replace("/", "_") / v.key,
                                      v, a, methods[label]))
                if ablate:
                    out["ablation"][label] = {"protocol": pname, "bicubic": methods["bicubic"],
                                              "base": methods[label], "runs": runs, "skipped": skipped}
                    save()
            adapted[label] = runs[0]  # the default settings
        if pname in main_protos:
            cols = {"bicubic": methods["bicubic"], **{m: methods[m] for m, _ in models},
                    **{f"{m} adapted": {k: adapted[m]["scores"][k] for k in ("psnr", "ssim", "images")}
                       for m, _ in models}, **{c: methods[c] for c, _ in compare}}
            out["main"][pname] = {"methods": cols, "adapt": adapted}
        save()
    save()
    print(f"{a.hr.name} x{a.scale}, {len(images)} images, PSNR (dB) / SSIM on Y, shave {a.scale}; "
          f"adapt: {a.steps} steps, data {' '.join(Path(d).name for d in data) or '(frames only)'}\n"
          f"setting: {SETTING}\n")
    if out["main"]:
        print(main_table(out["main"]))
    if out["ablation"]:
        print("\nAblation (one factor at a time; Δ = PSNR of the adapted model minus the base model):\n")
        print(ablation_table(out["ablation"]))
    print(f"\nwrote {a.json} in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
