"""edgesr adapt MODEL --frames SRC -o adapted.pt: unpaired adaptation to a camera, video or folder."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgesr.adaptation import AdaptConfig as D  # the defaults live in one place

    p.add_argument("model", help="model to adapt: a .pt (with its dual network) or a bundled name (edge_tiny_x2)")
    p.add_argument("--frames", required=True, metavar="SRC",
                   help="LR frames: a video file, a camera index, an RTSP/HTTP URL, a GStreamer pipeline or a folder")
    p.add_argument("-o", "--output", required=True, help="adapted model (.pt); the report goes next to it "
                   "(NAME.report.json), the frames and training run into OUTPUT.work/")
    p.add_argument("--data", nargs="+", default=list(D.data), metavar="DIR",
                   help="HR folders mixed in as paired batches, a regulariser (recommended: T91 BSDS200; default none)")
    p.add_argument("--ratio", type=float, default=D.ratio,
                   help=f"frame batches per paired batch, with --data (default {D.ratio})")
    p.add_argument("--degrade", default=D.degrade, metavar="PRESET|JSON",
                   help="LR of the --data batches by the degradation pipeline (e.g. real; default MATLAB bicubic)")
    p.add_argument("--steps", type=int, default=D.steps, help=f"default {D.steps}")
    p.add_argument("--lr", type=float, default=D.lr, help=f"learning rate (default {D.lr})")
    p.add_argument("--dual-weight", type=float, default=D.dual_weight,
                   help=f"lambda: weight of the dual loss, the only loss of a frame batch (default {D.dual_weight})")
    p.add_argument("--patch", type=int, default=D.patch, help=f"LR patch size (default {D.patch})")
    p.add_argument("--batch", type=int, default=D.batch, help=f"default {D.batch}")
    p.add_argument("--max-frames", type=int, default=D.max_frames,
                   help=f"frames to collect, evenly spaced over a file or folder (default {D.max_frames})")
    p.add_argument("--duration", type=float, default=D.duration,
                   help="seconds to capture from a camera or stream, frames spread over them (default: "
                        "the next --max-frames)")
    p.add_argument("--holdout", type=float, default=D.holdout,
                   help=f"share of the frames held out for the report (default {D.holdout}: every 5th)")
    p.add_argument("--dual-steps", type=int, default=D.dual_steps,
                   help=f"for a model saved without its dual network (the bundled ones): steps fitting one first, "
                        f"the model frozen (default {D.dual_steps})")
    p.add_argument("--seed", type=int, default=D.seed, help=f"default {D.seed}")
    p.add_argument("--ckpt-every", type=int, default=D.ckpt_every, help=f"default {D.ckpt_every}")
    p.add_argument("--threads", type=int, default=D.threads, help="torch CPU threads (default: torch's)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT.work/ (its frames and train/last.pt); options given here override")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output, report and work folder (start over)")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def run(a: argparse.Namespace) -> int:
    from edgesr.adaptation import adapt

    report = adapt(a.model, a.frames, a.output, resume=a.resume, overwrite=a.overwrite, data=tuple(a.data),
                   ratio=a.ratio, degrade=a.degrade, steps=a.steps, lr=a.lr, dual_weight=a.dual_weight, patch=a.patch,
                   batch=a.batch, max_frames=a.max_frames, duration=a.duration, holdout=a.holdout, seed=a.seed,
                   ckpt_every=a.ckpt_every, threads=a.threads, dual_steps=a.dual_steps, progress=a.progress)
    print(report.table())
    print(f"wrote {report.output} (report: {report.report})")
    return 0
