"""DRC vs baselines at equal FLOPs, on real data (docs/compression.md has the commands).

Methods, per FLOPs-reduction ratio, all starting from the same trained reference model:
  drc      search -> dual-regression pruning -> fine-tune (lambda = 0.1)
  drc_nodual  the same with lambda = 0 in every stage
  l1       DRC's searched channel counts, channels chosen by filter L1 norm, same fine-tune
  scratch  uniform inner width with FLOPs <= DRC's, trained from scratch for ref_steps + finetune steps
  ref_ft   the unpruned reference fine-tuned for the same steps (the "no loss" line)
  drc_noreopt  (ablation, not plotted) DRC's searched config, greedy selection without re-optimisation
Each job writes one JSON in WORK/results/; ``--collect`` merges them into
benchmarks/results/compression_study.json and draws docs/img/compression_psnr_flops.png.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

DATA = [str(shared("data", "train", n, check=False)) for n in ("T91", "BSDS200")]  # reference and scratch training
FT_DATA = [str(shared("data", "train", "T91", check=False))]  # search / prune / fine-tune (CPU budget: faster)
SET5, SET14 = (str(shared("data", "benchmark", n, check=False)) for n in ("Set5", "Set14"))
REPORT_HW = (360, 640)


def psnrs(model: torch.nn.Module) -> dict[str, float]:
    from edgesr.evaluation import evaluate

    return {"set5": evaluate(model, SET5).psnr, "set14": evaluate(model, SET14).psnr}


def record(a: argparse.Namespace, method: str, ratio: float, model_path: Path, t0: float, **extra: object) -> None:
    from edgesr.models import count_flops, count_params, load_model

    m = load_model(model_path)
    rec = {"method": method, "ratio": ratio, "channels": [p.producer.out_channels for p in m.prunable()],
           "params": count_params(m), "flops": count_flops(m, REPORT_HW), "flops_hw": list(REPORT_HW),
           **psnrs(m), "minutes": (time.perf_counter() - t0) / 60, "model": str(model_path), **extra}
    out = Path(a.work) / "results" / f"{method}_r{ratio}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=2))
    logging.info("%s", rec)


def finetune(a: argparse.Namespace, src: Path, out: Path, dual_weight: float) -> Path:
    from edgesr.training import TrainConfig, train

    return train(TrainConfig(model=str(src), data=tuple(FT_DATA), out=str(out), steps=a.finetune_steps, batch=16,
                             patch=32, lr=2e-4, dual_weight=dual_weight, ckpt_every=100, val_every=10**9,
                             threads=1, progress=False), resume=True)


def run_drc(a: argparse.Namespace, ratio: float, lam: float, method: str, reopt: int = 1) -> None:
    import shutil

    from edgesr.compression import CompressConfig, FinetuneConfig, PruneConfig, SearchConfig, compress
    from edgesr.models import load_model

    t0 = time.perf_counter()
    work = Path(a.work) / f"{method}_r{ratio}"
    if method == "drc_noreopt":  # ablation: DRC's own searched config, selection without re-optimisation
        (work / "search").mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(a.work) / f"drc_r{ratio}" / "search" / "channels.json", work / "search" / "channels.json")
    # the settings of this (earlier) study: legacy search and pruning (benchmarks/drc_study.py has the new ones)
    cfg = CompressConfig(search=SearchConfig(steps=a.search_steps, patch=32, dual_weight=lam, progress=False,
                                             mode="legacy"),
                         prune=PruneConfig.legacy(dual_weight=lam, batches=2, reopt_steps=reopt, progress=False),
                         finetune=FinetuneConfig(steps=a.finetune_steps, batch=16, patch=32, lr=2e-4, dual_weight=lam))
    compress(a.ref, ratio, FT_DATA, work / "final.pt", work_dir=work, config=cfg, latency=False)
    pre = psnrs(load_model(work / "prune" / "pruned.pt"))
    record(a, method, ratio, work / "final.pt", t0, set5_before_ft=pre["set5"], set14_before_ft=pre["set14"])


def run_l1(a: argparse.Namespace, ratio: float) -> None:
    from edgesr.compression import l1_keep, materialize
    from edgesr.models import load_model, save_model

    t0 = time.perf_counter()
    chan_file = Path(a.work) / f"drc_r{ratio}" / "search" / "channels.json"
    channels = json.loads(chan_file.read_text())["channels"]
    ref = load_model(a.ref)
    work = Path(a.work) / f"l1_r{ratio}"
    pre = save_model(materialize(ref, l1_keep(ref, channels)), work / "pruned.pt")
    p = psnrs(load_model(pre))
    final = finetune(a, pre, work / "finetune", 0.1)
    record(a, "l1", ratio, final, t0, set5_before_ft=p["set5"], set14_before_ft=p["set14"])


def run_scratch(a: argparse.Namespace, ratio: float) -> None:
    from edgesr.compression import SearchConfig, project, search_space
    from edgesr.models import count_flops, create_model, load_model
    from edgesr.training import TrainConfig, train

    t0 = time.perf_counter()
    ref = load_model(a.ref)
    cfg = ref.arch()["config"]
    n = len(ref.prunable())
    # FLOPs target: the largest config DRC's search space allows under the budget (DRC's result is <= it),
    # so the scratch baseline never has fewer FLOPs than DRC.
    space = search_space(ref, SearchConfig(ratio=ratio, mode="legacy"))
    top = project([c[-1] for c in space.candidates], [[1.0] * len(c) for c in space.candidates], space)

    def flops(ch: list[int]) -> int:
        return count_flops(create_model(ref.name, ref.scale, n_feats=cfg["n_feats"], n_blocks=cfg["n_blocks"],
                                        channels=ch), REPORT_HW)

    target = flops(top)
    w = max(w for w in range(1, cfg["n_feats"] + 1) if flops([w] * n) <= target)
    final = train(TrainConfig(model=ref.name, scale=ref.scale, data=tuple(DATA), out=str(Path(a.work) / f"scratch_r{ratio}"),
                              steps=a.ref_steps + a.finetune_steps, batch=16, patch=32, lr=5e-4, dual_weight=0.1,
                              ckpt_every=200, val_every=10**9, threads=1, progress=False,
                              model_kwargs={"n_feats": cfg["n_feats"], "n_blocks": cfg["n_blocks"], "channels": [w] * n}),
                  resume=True)
    record(a, "scratch", ratio, final, t0, steps=a.ref_steps + a.finetune_steps)


def run_ref(a: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    record(a, "ref", 0.0, Path(a.ref), t0)
    final = finetune(a, Path(a.ref), Path(a.work) / "ref_ft", 0.1)
    record(a, "ref_ft", 0.0, final, t0)


def collect(a: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(p.read_text()) for p in sorted((Path(a.work) / "results").glob("*.json"))]
    meta = {"ref": a.ref, "ref_steps": a.ref_steps, "search_steps": a.search_steps, "finetune_steps": a.finetune_steps,
            "data": DATA, "flops_hw": list(REPORT_HW), "threads": 1}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/compression_study.json").write_text(json.dumps({"meta": meta, "results": recs}, indent=2))
    base = {r["method"]: r for r in recs if r["method"] in ("ref", "ref_ft")}
    print("| method | FLOPs removed | channels | params | GFLOPs | Set5 | Set14 | Set5 before FT | vs unpruned / +FT (Set5) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(recs, key=lambda r: (r["ratio"], r["method"])):
        full = base.get("ref", r)["flops"]
        d = " / ".join(f"{r['set5'] - base[k]['set5']:+.3f}" for k in ("ref", "ref_ft") if k in base)
        pre = f"{r['set5_before_ft']:.3f}" if "set5_before_ft" in r else "-"
        print(f"| {r['method']} | {1 - r['flops'] / full:.1%} | {r['channels']} | {r['params']:,} | {r['flops'] / 1e9:.2f} "
              f"| {r['set5']:.3f} | {r['set14']:.3f} | {pre} | {d} |")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    style = {"drc": ("DRC", "o-"), "drc_nodual": ("DRC, lambda=0", "s--"), "l1": ("L1-norm + fine-tune", "^-."),
             "scratch": ("uniform width, scratch", "v:")}
    for ax, key in zip(axes, ("set5", "set14")):
        for m, (label, fmt) in style.items():
            pts = sorted((r["flops"] / 1e9, r[key]) for r in recs if r["method"] == m)
            if pts:
                ax.plot(*zip(*pts), fmt, label=label)
        for m, mk in (("ref", "k*"), ("ref_ft", "r*")):
            for r in recs:
                if r["method"] == m:
                    ax.plot(r["flops"] / 1e9, r[key], mk, ms=11, label="unpruned" + (" + same fine-tune" if m == "ref_ft" else ""))
        ax.set_xlabel(f"GFLOPs at {REPORT_HW[1]}x{REPORT_HW[0]} input")
        ax.set_ylabel(f"{key.upper()} Y-PSNR (dB), x2")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("edge_small x2: PSNR vs FLOPs (small CPU budget; see docs/compression.md)")
    fig.tight_layout()
    Path("docs/img").mkdir(parents=True, exist_ok=True)
    fig.savefig("docs/img/compression_psnr_flops.png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", default="runs/compression/ref/model.pt")
    p.add_argument("--work", default="runs/compression/study")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5])
    p.add_argument("--methods", nargs="+", default=["drc", "drc_nodual", "l1", "scratch"])
    p.add_argument("--ref-steps", type=int, default=1200, help="steps the reference was trained for")
    p.add_argument("--search-steps", type=int, default=100)
    p.add_argument("--finetune-steps", type=int, default=200)
    p.add_argument("--collect", action="store_true", help="merge results and draw the plot")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    if a.collect:
        collect(a)
        return
    shared()  # the data every method trains and evaluates on: one line with the fix when it is missing
    for ratio in a.ratios:
        for m in a.methods:
            if (Path(a.work) / "results" / f"{m}_r{ratio}.json").is_file():
                continue
            if m == "ref":
                run_ref(a)
            elif m in ("drc", "drc_nodual"):
                run_drc(a, ratio, 0.1 if m == "drc" else 0.0, m)
            elif m == "drc_noreopt":
                run_drc(a, ratio, 0.1, m, reopt=0)
            elif m == "l1":
                run_l1(a, ratio)
            elif m == "scratch":
                run_scratch(a, ratio)


if __name__ == "__main__":
    main()
