"""DRC selection study (issue 14, item 10): which channel selection rule to ship, with paired seeds.

Protocol (defaults): references ``edge_small`` x2, seeds 0/1/2, 4,000 steps cosine (Adam 5e-4,
batch 16, LR patch 32, lambda 0.1) on T91 + 150 BSDS200 images; the other 50 BSDS200 images are
held out. Per reference and FLOPs cut (30 %, 50 %) one official-mode search gives the channel
counts every arm shares; the arms differ only in which channels they keep (and how the kept
weights are refitted):

  unpruned      the reference itself, fine-tuned like the arms: the "no loss" line and the convergence
                check (a reference is accepted if its 1,000-step fine-tune gains < 0.1 dB on the held-out set)
  l1            producer filter L1 norm, no refit                      (PruneConfig(select="l1"))
  random        seeded random subset (seed = reference seed), no refit
  drc           DRC as shipped before this study                       (PruneConfig.legacy())
  drc_12        DRC with items 1-2 (official loss balance, fresh crops, SGD refit)
  drc_12_l0     the same with lambda = 0 in the pruning loss (fine-tuning keeps lambda = 0.1)
  drc_centered  items 1-2 + per-channel-centred scoring inputs
  drc_omp       items 1-2 + least-squares (OMP) greedy
  l1_uniform    stage 1 alone: L1 selection at uniform widths (the budget spent evenly, no search) vs l1
                at the searched widths; drc_omp_uniform the same for drc_omp (with ``--redistribute``
                searches that may keep layers wider than uniform: ``--baselines drc_omp``)
  drc_omp_l0    drc_omp with lambda = 0 in the pruning loss (the lambda question where the dual loss has
                several levels: an x4 DRN, ``--model drn_s --scale 4 --model-kwargs '{"n_feats": 8}'``)
  l1_kd, drc_omp_kd   the l1 / drc_omp pruned models fine-tuned with output distillation (L1, weight 1)
                from their unpruned reference (item 7: the criterion separated from distillation)

Every pruned model is fine-tuned for each ``--ft-steps`` length (separate cosine runs, the same
recipe and seed as its reference: paired), and evaluated per image on Set5, Set14 and the
held-out images before and after. ``--report`` compares each arm with ``l1`` (and ``random``;
``--baselines`` names others):
per reference the difference of the mean Y-PSNR (the mean of the three sets' means; each set
also alone), then mean +- 95 % t-interval over references and sign counts (references, images).
Verdict at the longest fine-tune: "no worse" if the lower bound > -0.05 dB, "worse" if the upper
bound < 0, else "not resolved" (always with a single reference).

Resumable: every unit (reference, search, prune, fine-tune, evaluation) is skipped when its
output exists; re-run the same command after a kill. Results: ``WORK/results/*.json``;
``--report`` writes ``WORK/report.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling module common, also under importlib

from common import shared  # noqa: E402  (the shared data root: $EDGESR_SHARED or ../shared)

log = logging.getLogger("drc_study")

ARMS = ("unpruned", "l1", "random", "drc", "drc_12", "drc_12_l0", "drc_centered", "drc_omp", "l1_kd", "drc_omp_kd",
        "l1_uniform", "drc_omp_uniform", "drc_omp_l0")
SETS = ("set5", "set14", "holdout")
NO_WORSE = -0.05  # dB


def prepare_data(a: argparse.Namespace) -> dict[str, Any]:
    """Symlink folders: the 150 training and 50 held-out BSDS200 images, and (limited) eval sets."""
    from edgesr.data import list_images

    root = Path(a.work) / "data"
    data = shared("data")
    bsds = list_images(data / "train" / "BSDS200")
    if len(bsds) < a.train_bsds + a.holdout:
        raise SystemExit(f"BSDS200 has {len(bsds)} images, fewer than --train-bsds + --holdout")
    split = {"train_bsds": bsds[: a.train_bsds], "holdout_all": bsds[a.train_bsds: a.train_bsds + a.holdout]}
    lim = a.eval_limit or None
    split["set5"] = list_images(data / "benchmark" / "Set5")[:lim]
    split["set14"] = list_images(data / "benchmark" / "Set14")[:lim]
    split["holdout"] = split["holdout_all"][:lim]
    for name, files in split.items():
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            link = d / f.name
            try:  # two study processes may link the same files at once
                link.symlink_to(f.resolve())
            except FileExistsError:
                pass
    return {"train": [str(data / "train" / "T91"), str(root / "train_bsds")],
            "eval": {s: str(root / s) for s in SETS}}


def evaluate_all(model_path: Path, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    from edgesr.evaluation import evaluate
    from edgesr.models import load_model

    m = load_model(model_path)
    return {s: {r.name: r.psnr for r in evaluate(m, folder).images} for s, folder in data["eval"].items()}


def unit(a: argparse.Namespace, name: str, fn: Any) -> dict[str, Any]:
    """Run ``fn() -> dict`` once; its JSON in WORK/results/NAME.json marks it done."""
    out = Path(a.work) / "results" / f"{name}.json"
    if out.is_file():
        return json.loads(out.read_text())
    t0 = time.perf_counter()
    rec = {"name": name, **fn(), "minutes": (time.perf_counter() - t0) / 60}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=2))
    log.info("done %s (%.1f min)", name, rec["minutes"])
    return rec


def train_run(a: argparse.Namespace, data: dict[str, Any], out: Path, steps: int, seed: int, lr: float,
              model: str, teacher: str | None = None) -> Path:
    from edgesr.training import TrainConfig, train

    if (out / "model.pt").is_file():
        return out / "model.pt"
    kwargs = json.loads(a.model_kwargs) if model == a.model else {}  # a path (fine-tune) carries its arch
    cfg = TrainConfig(model=model, model_kwargs=kwargs, scale=a.scale, data=tuple(data["train"]), out=str(out),
                      steps=steps, batch=a.batch, patch=a.patch, lr=lr, schedule="cosine", dual_weight=0.1, seed=seed,
                      ckpt_every=max(1, min(200, steps)), val_every=10**9, threads=a.threads, progress=False,
                      teacher=teacher, teacher_weight=1.0, distill="output")
    return train(cfg, resume=(out / "last.pt").is_file())


def reference(a: argparse.Namespace, data: dict[str, Any], seed: int) -> Path:
    """The seed's reference; ``--reference``: one given model for every seed (the seed then varies the
    search, the pruning crops and the fine-tunes, not the reference)."""
    path = Path(a.reference) if a.reference else train_run(a, data, Path(a.work) / f"ref_s{seed}", a.ref_steps, seed,
                                                           a.ref_lr, a.model)
    ev = unit(a, "ref_eval" if a.reference else f"s{seed}_ref_eval", lambda: {"psnr": evaluate_all(path, data)})
    if a.reference:  # one model for every seed: evaluated once, recorded under each seed for the report
        unit(a, f"s{seed}_ref_eval", lambda: {"psnr": ev["psnr"]})
    return path


def channels_for(a: argparse.Namespace, data: dict[str, Any], ref: Path, seed: int, ratio: float,
                 uniform: bool = False) -> list[int]:
    """The searched widths every arm shares (``uniform``: the same budget spent evenly, no search)."""
    from edgesr.compression import SearchConfig, fit_budget, search_channels, search_space
    from edgesr.compression.common import widths
    from edgesr.models import load_model

    m = load_model(ref)
    cfg = SearchConfig(ratio=ratio, budget="flops", mode="official", steps=max(1, a.search_steps),
                       patch=a.patch, seed=seed, progress=False, redistribute=a.redistribute and not uniform,
                       a_lr=a.search_a_lr)

    def run() -> dict[str, Any]:
        if uniform or a.search_steps == 0:  # no search: the widest (uniform) candidates, fitted to the budget
            space = search_space(m, cfg)
            flat = [[1.0] * len(c) for c in space.candidates]
            ch = fit_budget([c[-1] for c in space.candidates], flat, space)
        else:
            ch = search_channels(m, data["train"], Path(a.work) / f"s{seed}_r{ratio}" / "search", cfg)
        space = search_space(m, cfg)
        assert space.budget is not None
        return {"channels": ch, "cost_vs_budget": space.cost.cost(ch) / space.budget,
                "flops_removed": 1 - space.cost.cost(ch) / space.cost.cost(widths(m))}

    return list(unit(a, f"s{seed}_r{ratio}_channels" + ("_uniform" if uniform else ""), run)["channels"])


def arm_config(a: argparse.Namespace, arm: str, seed: int) -> Any:
    from edgesr.compression import PruneConfig

    if arm == "drc":  # as shipped: its own (legacy) settings, untouched by the study knobs
        return PruneConfig.legacy(seed=seed, progress=False)
    knobs = {k: v for k, v in (("batches", a.prune_batches), ("reopt_steps", a.reopt_steps),
                               ("batch", a.prune_batch), ("patch", a.prune_patch)) if v is not None}
    arm = arm.removesuffix("_kd").removesuffix("_uniform")
    lam0 = arm.endswith("_l0")
    select = {"l1": "l1", "random": "random", "drc_12": "drc", "drc_centered": "drc_centered",
              "drc_omp": "drc_omp"}[arm.removesuffix("_l0")]
    return PruneConfig(select=select, dual_weight=0.0 if lam0 else 0.1, seed=seed, progress=False, **knobs)


def run_arm(a: argparse.Namespace, data: dict[str, Any], ref: Path, seed: int, ratio: float, arm: str,
            channels: list[int], stages: list[int]) -> None:
    from edgesr.compression import prune
    from edgesr.models import load_model

    kd = arm.endswith("_kd")  # the same pruned model as the arm without _kd, fine-tuned with a teacher
    rule = arm[:-3] if kd else arm
    work = Path(a.work) / f"s{seed}_r{ratio}" / arm
    tag = f"s{seed}_r{ratio}_{arm}"
    pruned = Path(a.work) / f"s{seed}_r{ratio}" / rule / "prune" / "pruned.pt"

    if kd:  # the base arm's pruned model (and its ft0 record) first, when only the _kd arm was asked for
        run_arm(a, data, ref, seed, ratio, rule, channels, [0])

    def do_prune() -> dict[str, Any]:
        if kd:
            return {**unit(a, f"s{seed}_r{ratio}_{rule}_ft0", lambda: {}), "same_as": rule}
        cfg = arm_config(a, arm, seed)
        prune(load_model(ref), channels, data["train"], work / "prune", cfg)
        # the knobs it ran with (issue 22: a unit record must say which pruning-data settings it measured)
        knobs = {k: v for k, v in dataclasses.asdict(cfg).items() if isinstance(v, (int, float, str, bool, type(None)))}
        return {"psnr": evaluate_all(pruned, data), "channels": channels, "prune_config": knobs}

    unit(a, f"{tag}_ft0", do_prune)
    for ft in (x for x in stages if x > 0):
        def do_ft(ft: int = ft) -> dict[str, Any]:
            final = train_run(a, data, work / f"ft{ft}", ft, seed, a.ft_lr, str(pruned), str(ref) if kd else None)
            return {"psnr": evaluate_all(final, data)}

        unit(a, f"{tag}_ft{ft}", do_ft)


def run_unpruned(a: argparse.Namespace, data: dict[str, Any], ref: Path, seed: int, ratio: float, ft: int) -> None:
    """The "no loss" line: the unpruned reference fine-tuned like the arms (ft 0 = the reference itself)."""
    tag = f"s{seed}_r{ratio}_unpruned_ft{ft}"
    if ft == 0:
        unit(a, tag, lambda: {"psnr": unit(a, f"s{seed}_ref_eval", lambda: {})["psnr"]})
        return
    out = Path(a.work) / f"s{seed}_unpruned_ft{ft}"
    unit(a, tag, lambda: {"psnr": evaluate_all(train_run(a, data, out, ft, seed, a.ft_lr, str(ref)), data)})


# ----------------------------------------------------------------------------------------------- report

def t975(df: int) -> float:
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
    return table.get(df, 1.96 if df > 30 else 2.1)


def summarize(diffs: list[float]) -> dict[str, Any]:
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else math.nan
    half = t975(n - 1) * statistics.stdev(diffs) / math.sqrt(n) if n > 1 else math.inf
    return {"n": n, "mean": mean, "lo": mean - half, "hi": mean + half,
            "pos": sum(d > 0 for d in diffs), "neg": sum(d < 0 for d in diffs)}


def verdict(s: dict[str, Any]) -> str:
    if s["n"] > 1 and s["lo"] > NO_WORSE:
        return "no worse"
    if s["n"] > 1 and s["hi"] < 0:
        return "worse"
    return "not resolved"


def compare(recs: dict[str, Any], seeds: list[int], ratio: float, arm: str, base: str, ft: int) -> dict[str, Any]:
    per_seed: dict[str, list[float]] = {k: [] for k in (*SETS, "all")}
    images = [0, 0]
    for s in seeds:
        x, y = recs.get(f"s{s}_r{ratio}_{arm}_ft{ft}"), recs.get(f"s{s}_r{ratio}_{base}_ft{ft}")
        if x is None or y is None:
            continue
        set_means = []
        for st in SETS:
            d = [x["psnr"][st][k] - y["psnr"][st][k] for k in x["psnr"][st]]
            images[0] += sum(v > 0 for v in d)
            images[1] += sum(v < 0 for v in d)
            per_seed[st].append(statistics.fmean(d))
            set_means.append(per_seed[st][-1])
        per_seed["all"].append(statistics.fmean(set_means))
    out = {k: summarize(v) for k, v in per_seed.items()}
    out["all"]["images_pos"], out["all"]["images_neg"] = images
    return out


def report(a: argparse.Namespace) -> None:
    recs = {p.stem: json.loads(p.read_text()) for p in sorted((Path(a.work) / "results").glob("*.json"))}
    stages = [0, *a.ft_steps]
    final = max(stages)
    rows = []
    print("| ratio | FT steps | arm | vs | mean dB (all) | 95% CI | refs +/- | images +/- | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ratio in a.ratios:
        for ft in stages:
            for arm in a.arms:
                for base in a.baselines:
                    if arm == base or base not in a.arms:
                        continue
                    c = compare(recs, a.seeds, ratio, arm, base, ft)
                    s = c["all"]
                    if not s["n"]:
                        continue
                    v = verdict(s) if ft == final else "-"
                    rows.append({"ratio": ratio, "ft": ft, "arm": arm, "vs": base, "verdict": v, **c})
                    print(f"| {ratio} | {ft} | {arm} | {base} | {s['mean']:+.3f} | [{s['lo']:+.3f}, {s['hi']:+.3f}] "
                          f"| {s['pos']}/{s['neg']} | {s['images_pos']}/{s['images_neg']} | {v} |")
    absolute = absolute_table(a, recs, stages)
    if a.plot:
        plot_curves(a, absolute, stages, Path(a.plot))
    meta = {k: v for k, v in vars(a).items() if k != "func"}
    (Path(a.work) / "report.json").write_text(json.dumps({"meta": meta, "rows": rows, "absolute": absolute},
                                                         indent=2, default=str))


def plot_curves(a: argparse.Namespace, absolute: list[dict[str, Any]], stages: list[int], path: Path) -> None:
    """Mean Y-PSNR (Set5, Set14, held-out: one panel each; one row per FLOPs cut) of every arm vs fine-tune steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(len(a.ratios), len(SETS), figsize=(15, 4.6 * len(a.ratios)), squeeze=False)
    for ratio, axes in zip(a.ratios, grid):
        for ax, st in zip(axes, SETS):
            for i, arm in enumerate(a.arms):
                pts = [(r["ft"], r[st]) for r in absolute if r.get("arm") == arm and r["n"] and r["ratio"] == ratio]
                if pts:
                    wide = arm in ("drc_omp", "l1", "unpruned")
                    ax.plot([max(f, 10) for f, _ in pts], [v for _, v in pts], marker="o",
                            color=plt.get_cmap("tab20")(i % 20), lw=2.2 if wide else 1.0, label=arm)
            ax.set_xscale("log")
            ax.set_xticks([max(f, 10) for f in stages], [str(f) for f in stages])
            ax.set_xlabel("fine-tune steps (0 = right after pruning)")
            ax.set_ylabel(f"{st} Y-PSNR (dB), mean of {len(a.seeds)} references")
            ax.set_title(f"{a.model} x{a.scale}, -{ratio:.0%} FLOPs: {st}")
            ax.grid(alpha=0.3)
        axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def absolute_table(a: argparse.Namespace, recs: dict[str, Any], stages: list[int]) -> list[dict[str, Any]]:
    """Mean Y-PSNR per arm and stage (over the references that have it), and the reference acceptance check."""
    rows = []
    print("\n| ratio | arm | " + " | ".join(f"FT {ft}: Set5 / Set14 / held-out" for ft in stages) + " |")
    print("|---|---|" + "---|" * len(stages))
    for ratio in a.ratios:
        for arm in a.arms:
            cells = []
            for ft in stages:
                got = [recs[k]["psnr"] for s in a.seeds if (k := f"s{s}_r{ratio}_{arm}_ft{ft}") in recs]
                means = {st: statistics.fmean(statistics.fmean(g[st].values()) for g in got) for st in SETS} if got else {}
                rows.append({"ratio": ratio, "arm": arm, "ft": ft, "n": len(got), **means})
                cells.append(" / ".join(f"{means[st]:.2f}" for st in SETS) + f" (n={len(got)})" if got else "-")
            print(f"| {ratio} | {arm} | " + " | ".join(cells) + " |")
    for s in a.seeds:
        r0, r1 = recs.get(f"s{s}_ref_eval"), recs.get(f"s{s}_r{a.ratios[0]}_unpruned_ft{max(stages)}")
        if r0 and r1:
            gain = statistics.fmean(r1["psnr"]["holdout"].values()) - statistics.fmean(r0["psnr"]["holdout"].values())
            verdict_ = "accepted" if gain < 0.1 else "NOT converged"
            print(f"reference s{s}: unpruned + {max(stages)}-step fine-tune gains {gain:+.3f} dB held-out: {verdict_}")
            rows.append({"reference": s, "ft_gain_holdout": gain, "accepted": gain < 0.1})
    return rows


def run_study(a: argparse.Namespace) -> None:
    """Breadth first: every reference, then every search, then each fine-tune length across arms and seeds,
    so that a run cut short still has paired results for all seeds at the shorter stages."""
    data = prepare_data(a)
    refs = {seed: reference(a, data, seed) for seed in a.seeds}
    chans = {(seed, r): channels_for(a, data, refs[seed], seed, r) for seed in a.seeds for r in a.ratios}
    for ft in [0, *a.ft_steps]:
        for ratio in a.ratios:
            for arm in a.arms:
                for seed in a.seeds:
                    if arm == "unpruned":
                        run_unpruned(a, data, refs[seed], seed, ratio, ft)
                    elif arm.endswith("_uniform"):  # stage 1 alone: uniform widths vs the searched ones
                        ch = channels_for(a, data, refs[seed], seed, ratio, uniform=True)
                        run_arm(a, data, refs[seed], seed, ratio, arm, ch, [ft])
                    else:
                        run_arm(a, data, refs[seed], seed, ratio, arm, chans[(seed, ratio)], [ft])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="runs/drc_study")
    p.add_argument("--model", default="edge_small")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--model-kwargs", default="{}",
                   help='JSON config overrides of the references, e.g. \'{"n_feats": 8}\'')
    p.add_argument("--redistribute", action="store_true",
                   help="search over full-width candidates too (SearchConfig.redistribute): stage 1 can move width")
    p.add_argument("--search-a-lr", type=float, help="Adam lr of the search's architecture weights (official 3e-4)")
    p.add_argument("--baselines", nargs="+", default=["l1", "random"], choices=ARMS,
                   help="arms every arm is compared with")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5], help="fractions of the FLOPs removed")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--ref-steps", type=int, default=4000)
    p.add_argument("--reference", help="a trained model used as the reference of every seed (no reference training)")
    p.add_argument("--ft-steps", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--search-steps", type=int, default=100, help="0: widest candidates fitted to the budget")
    p.add_argument("--batch", type=int, default=16, help="reference / fine-tune batch")
    p.add_argument("--patch", type=int, default=32, help="reference / fine-tune / search LR patch")
    p.add_argument("--ref-lr", type=float, default=5e-4)
    p.add_argument("--ft-lr", type=float, default=2e-4)
    p.add_argument("--prune-batches", type=int, help="PruneConfig.batches of the non-legacy DRC arms")
    p.add_argument("--reopt-steps", type=int, help="PruneConfig.reopt_steps of the non-legacy DRC arms")
    p.add_argument("--prune-batch", type=int)
    p.add_argument("--prune-patch", type=int, help="LR patch of the pruning crops (default 192 // scale)")
    p.add_argument("--train-bsds", type=int, default=150)
    p.add_argument("--holdout", type=int, default=50)
    p.add_argument("--eval-limit", type=int, default=0, help="images per evaluation set (0 = all; smoke runs)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report", action="store_true", help="only aggregate the finished results")
    p.add_argument("--plot", help="with --report: write the PSNR-vs-fine-tune-steps curves here (.png)")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(a.threads)
    if not a.report:
        run_study(a)
    report(a)


if __name__ == "__main__":
    main()
