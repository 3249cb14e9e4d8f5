"""Every figure in README.md and docs/ comes from a record in benchmarks/results/ (issue 22).

Two forms, both invisible in rendered Markdown:

* **Rendered regions**: ``<!-- figures: NAME -->`` ... ``<!-- /figures -->``. The text between is
  regenerated from the records by the renderer ``NAME`` (``RENDERERS`` below):
  ``python benchmarks/docfigures.py --write`` rewrites them, ``--check`` (and the test) fails when
  one differs from what the records say.
* **Inline figures**: a number followed (within a few characters: its unit) by
  ``<!-- rec: FILE QUERY [FORMAT] -->``, e.g. ``37.10 dB<!-- rec: model_card.json
  rows[name=edge_tiny_x2].Set5_psnr .2f -->``. ``FILE`` is relative to benchmarks/results/;
  ``QUERY`` is a dotted path whose parts are keys, list indices (``[0]``) or selectors
  (``[name=edge_tiny_x2,scale=2]``: the one element whose fields equal those values); ``FORMAT`` is a
  Python format spec (default ``.2f``), optionally prefixed by ``*100`` (percent) or ``neg`` (the
  value negated, for "drops"). The number printed must equal the formatted record value.

A figure that has no record is written as text saying where it came from and when, never as a bare
number: wrap it in ``<!-- norec: WHERE IT CAME FROM -->`` ... ``<!-- /norec -->`` (a published
figure, a target, a measurement of another session that left no record). In the files of
``CONVERTED`` every figure (a number with a unit: dB, fps, ms, GFLOPs, %, x, min) must be covered
by one of the three forms; code blocks are exempt.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

REGION = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)
INLINE = re.compile(r"<!-- rec: (?P<file>\S+) (?P<query>(?:[^\s\[]|\[[^\]]*\])+)(?: (?P<fmt>\S+))? -->")
ANY_REC = re.compile(r"<!-- rec:.*?-->", re.S)
NUMBER = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?")
PART = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")
NOREC = re.compile(r"<!-- norec: [^>]*-->.*?<!-- /norec -->", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
FIGURE = re.compile(r"(?<![\w.])[-+−]?\d[\d,]*(?:\.\d+)?\s?(?:dB|fps|frames/s|ms|GFLOPs?|GFLOP|%|x(?![\w-])|min\b)")
COVER_WINDOW = 24  # characters after a figure within which its <!-- rec: --> must start
# files whose every figure is covered (issue 22); the rest still carry figures checked only where marked
CONVERTED = ["README.md", "docs/models.md", "docs/benchmarks.md", "docs/calibration.md", "docs/compression.md",
             "docs/deployment.md", "docs/export.md", "docs/real-world.md", "docs/video.md"]


def load(file: str, results: Path = RESULTS) -> Any:
    return json.loads((results / file).read_text())


def query(data: Any, path: str) -> Any:
    """``rows[name=edge_tiny_x2].Set5_psnr`` and the like (see the module doc)."""
    cur = data
    for key, sel in PART.findall(path):
        if key:
            cur = cur[key]
        elif "=" in sel:
            want = dict(kv.split("=", 1) for kv in sel.split(","))
            hits = [e for e in cur if all(str(e.get(k)) == v for k, v in want.items())]
            if len(hits) != 1:
                raise KeyError(f"{path}: [{sel}] matches {len(hits)} elements, not one")
            cur = hits[0]
        else:
            cur = cur[int(sel)]
    return cur


def fmt(value: Any, spec: str | None) -> str:
    spec = spec or ".2f"
    if spec.startswith("*100"):
        value, spec = float(value) * 100, spec[4:] or ".1f"
    elif spec.startswith("neg"):
        value, spec = -float(value), spec[3:] or ".2f"
    if spec == "s":
        return str(value)
    return format(value, spec)


def _norm(num: str) -> str:
    return num.replace("−", "-").lstrip("+")


def check_inline(text: str, where: str, results: Path = RESULTS) -> list[str]:
    """Problems of the inline figures in ``text``: each must equal its record, formatted as printed."""
    problems = [f"{where}:{text.count(chr(10), 0, m.start()) + 1}: unreadable record reference {m.group(0)!r}"
                for m in ANY_REC.finditer(text) if not INLINE.fullmatch(m.group(0))]
    for m in INLINE.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        line = text.count("\n", 0, m.start()) + 1
        nums = NUMBER.findall(before)
        try:
            want = fmt(query(load(m["file"], results), m["query"]), m["fmt"])
        except (OSError, KeyError, IndexError, ValueError, TypeError) as e:
            problems.append(f"{where}:{line}: {m['file']} {m['query']}: {e}")
            continue
        if not nums or _norm(nums[-1]) != _norm(want):
            problems.append(f"{where}:{line}: printed {nums[-1] if nums else 'nothing'}, "
                            f"the record says {want} ({m['file']} {m['query']})")
    return problems


def uncovered(text: str) -> list[tuple[int, str]]:
    """Figures (line, token) in ``text`` that no rendered region, inline record or norec span covers."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731  (keep offsets and line numbers)
    t = REGION.sub(blank, text)
    t = NOREC.sub(blank, t)
    t = CODE.sub(blank, t)
    out = []
    for m in FIGURE.finditer(t):
        nxt = t[m.end():m.end() + COVER_WINDOW + 10]
        if "<!-- rec:" not in nxt[:COVER_WINDOW + 9] or FIGURE.search(nxt[:nxt.find("<!-- rec:")]):
            out.append((t.count("\n", 0, m.start()) + 1, m.group(0)))
    return out


# --- renderers: NAME -> Markdown from the records ---------------------------------------------------

def _model_card(results: Path) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from model_card import markdown  # noqa: PLC0415  (the card's own table format)

    return markdown(load("model_card.json", results)["rows"])


def _bundled(results: Path) -> str:
    """The bundled models' provenance: which checkpoint, why, how many updates and minutes."""
    rows = load("bundled_provenance.json", results)["models"]
    out = ["| bundled model | checkpoint rule | updates (cumulative) | training minutes | validation |",
           "|---|---|---|---|---|"]
    for r in rows:
        upd = f"{r['updates']:,}" if r.get("updates") is not None else "not recorded"
        mins = f"{r['minutes']:.1f}" if r.get("minutes") is not None else "not recorded"
        out.append(f"| `{r['name']}` | {r['rule']} | {upd} | {mins} | {r['validation']} |")
    return "\n".join(out) + "\n"


LADDER = ("nano", "tiny", "base")  # the classes, cheapest first
LADDER_MARGIN = 0.3  # dB a class must gain over the class below it on both Set5 and Set14 (issue 23)


def _ladder(results: Path) -> str:
    """The ladder rule per scale from the card: each class vs the class below it, Set5 and Set14."""
    rows = {r["name"]: r for r in load("model_card.json", results)["rows"] if r["kind"] == "edgesr"}
    out = ["| scale | class | vs class below | Set5 gain | Set14 gain | ladder rule (≥ +0.3 dB on both) |",
           "|---|---|---|---|---|---|"]
    for s in (2, 3, 4):
        present = [c for c in LADDER if f"edge_{c}_x{s}" in rows]
        for below, above in zip(present, present[1:]):
            a, b = rows[f"edge_{above}_x{s}"], rows[f"edge_{below}_x{s}"]
            g5, g14 = a["Set5_psnr"] - b["Set5_psnr"], a["Set14_psnr"] - b["Set14_psnr"]
            ok = g5 >= LADDER_MARGIN and g14 >= LADDER_MARGIN
            verdict = "earns its place" if ok else "**fails**: not worth its extra compute at this scale yet"
            gains = " | ".join(f"{g:+.2f} dB".replace("-", "\u2212") for g in (g5, g14))  # the docs' minus sign
            out.append(f"| x{s} | {above} | {below} | {gains} | {verdict} |")
    return "\n".join(out) + "\n"


def _temporal(results: Path) -> str:
    """The stable mode vs per-frame SR (benchmarks/temporal_study.py): changes against the issue-24 targets."""
    rec = load("temporal_study.json", results)
    out = ["| model | method | flicker (still regions) | tOF | warping error | per-frame PSNR | frame rate |",
           "|---|---|---|---|---|---|---|",
           "| target | | ≤ −30 % | ≤ −30 % | | within ±0.05 dB | ≥ 90 % |"]
    for r in rec["summary"]:
        fps = f"{100 * r['fps_ratio']:.0f} %" if r.get("fps_ratio") is not None else "—"
        out.append(f"| {r['model']} | {r['method']} | {r['flicker_change_pct']:+.1f} % | {r['tof_change_pct']:+.1f} % | "
                   f"{r['warp_error_change_pct']:+.1f} % | {r['psnr_change_db']:+.3f} dB | {fps} |")
    return "\n".join(out) + "\n"


def _video_choice(results: Path) -> str:
    """Clean vs degradation-aware models on Set14 x2 under each protocol of benchmarks/real_world_eval.py."""
    r = load("real_world.json", results)["results"]
    protos = [("clean", "clean (MATLAB bicubic)"), ("bicubic_h264_crf28", "H.264 CRF 28"),
              ("blur_bicubic_jpeg50", "blur + JPEG 50"), ("area_noise5", "noise σ 5")]
    out = ["| model | " + " | ".join(label for _, label in protos) + " |", "|---|" + "---|" * len(protos)]
    for m in ("edge_tiny_x2", "edge_tiny_x2_real", "edge_nano_x2", "edge_nano_x2_real"):
        out.append(f"| `{m}` | " + " | ".join(f"{r[p][m]['psnr']:.2f}" for p, _ in protos) + " |")
    return "\n".join(out) + "\n"


RENDERERS: dict[str, Callable[[Path], str]] = {"model_card": _model_card, "bundled": _bundled, "ladder": _ladder,
                                                "temporal": _temporal, "video_choice": _video_choice}


def _more_renderers() -> None:
    """The tables of the other docs (compression, calibration, real-world, benchmarks...) live in doc_renderers.py."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from doc_renderers import RENDERERS as MORE  # noqa: PLC0415
    except ModuleNotFoundError as e:
        if e.name != "doc_renderers":
            raise
        return
    RENDERERS.update(MORE)


_more_renderers()


def render(text: str, results: Path = RESULTS) -> str:
    """``text`` with every rendered region regenerated from the records."""
    def one(m: re.Match[str]) -> str:
        if m["name"] not in RENDERERS:
            raise KeyError(f"unknown figures region {m['name']!r}; known: {', '.join(RENDERERS)}")
        return m.group(1) + RENDERERS[m["name"]](results) + m.group(4)

    return REGION.sub(one, text)


def check(paths: list[Path] = DOCS, results: Path = RESULTS) -> list[str]:
    """Every problem in ``paths``: stale rendered regions and inline figures that differ from their record."""
    problems = []
    for p in paths:
        text = p.read_text()
        where = str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)
        if render(text, results) != text:
            problems.append(f"{where}: a rendered region differs from the records; "
                            "run python benchmarks/docfigures.py --write")
        problems += check_inline(text, where, results)
        if where in CONVERTED:
            problems += [f"{where}:{ln}: figure {tok!r} has no record (add <!-- rec: ... --> or a norec span)"
                         for ln, tok in uncovered(text)]
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="regenerate the rendered regions in place")
    a = ap.parse_args()
    if a.write:
        for p in DOCS:
            text = p.read_text()
            new = render(text)
            if new != text:
                p.write_text(new)
                print(f"rewrote {p.relative_to(ROOT)}")
    problems = check()
    print("\n".join(problems) if problems else f"all figures match their records ({len(DOCS)} files)")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
