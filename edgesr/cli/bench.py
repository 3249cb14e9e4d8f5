"""``edgesr bench``: every backend and precision this machine runs, with bicubic and OpenCV peers."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgesr.bench.run import SIZES  # light: numpy only

    p.add_argument("--model", help="model: .onnx / .pt / .engine path, a bundled name (edge_nano_x2) or a preset "
                                   "name "
                                   "(default: the bundled model, else the untrained edge_tiny preset)")
    p.add_argument("--scale", type=int, default=2, help="scale of the bundled model / preset (default 2)")
    p.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated input sizes from {', '.join(SIZES)}")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--rows", help="only rows whose name contains one of these comma-separated words")
    p.add_argument("--peers", help="folder of OpenCV dnn_superres .pb files (FSRCNN_x2.pb, ESPCN_x2.pb, ...)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for every row (default 2)")
    p.add_argument("--budget", type=float, default=1.0, help="timed seconds per row and size (default 1)")
    p.add_argument("--max-frame-s", type=float, default=2.5,
                   help="skip a row at a size predicted slower than this per frame (default 2.5)")
    p.add_argument("--time-limit", type=float, default=100.0, help="skip the remaining cells after this many s")
    p.add_argument("--full", action="store_true", help="no skipping: every row at every size")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--plot", type=Path, help="write a frames/s plot (PNG) here; needs matplotlib")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def run(args: argparse.Namespace) -> int:
    from edgesr.overwrite import check_output

    if args.json:  # checked before the (minutes-long) run
        check_output(args.json, "json", overwrite=True, flag="--json")
    if args.plot:
        check_output(args.plot, "image", overwrite=True, flag="--plot")
    from edgesr.bench.run import BenchConfig, run_bench, summarize
    from edgesr.bench.result import fastest_lines

    cfg = BenchConfig(model=args.model, scale=args.scale, sizes=tuple(s.strip() for s in args.sizes.split(",") if s),
                      device=args.device, rows=tuple(args.rows.split(",")) if args.rows else None, peers=args.peers,
                      threads=args.threads, budget_s=args.budget, max_frame_s=args.max_frame_s,
                      time_limit_s=args.time_limit, full=args.full)

    def progress(c: object) -> None:
        from edgesr.bench.run import Cell

        assert isinstance(c, Cell)
        what = f"{c.fps:.2f} fps" if c.status == "ok" and c.fps else f"{c.status} ({c.reason})"
        if c.quality_failed:
            what += f"  NOT RANKED: {c.quality_failed}"
        print(f"  {c.row:<30} {c.size:<6} {what}", flush=True)

    res = run_bench(cfg, progress=progress)
    print(f"\nmodel {res.model['name']} x{res.model['scale']}; measured peak GFLOP/s {res.peak_gflops}; "
          f"{res.wall_s:.0f} s")
    for note in res.model.get("notes", []):
        print(f"note: {note}")
    print()
    print(res.table(markdown=args.markdown))
    ratios = summarize(res)
    if ratios:
        print("\nframes/s ratios measured in this run:\n" + ratios)
    fastest = fastest_lines(res)
    if fastest:
        print("\nfastest precision on this machine (this run):\n" + fastest)
    if args.json:
        res.to_json(args.json)
        print(f"\nwrote {args.json}")
    if args.plot:
        for p in res.plot(args.plot, args.plot.with_name(args.plot.stem + "_peak" + args.plot.suffix)):
            print(f"wrote {p}")
    return 0
