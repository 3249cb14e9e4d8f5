"""edgesr convert official: checkpoints of the paper's own code -> edgesr models (edgesr.models.official)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    o = sub.add_parser("official", help="official DRN / DRC checkpoint (guoyongcs/DRC) -> edgesr model .pt",
                       description="Convert an official DRN or DRC-pruned DRN state dict (e.g. DRNS4x.pt) into an "
                                   "edgesr checkpoint that load_model, train, compress, export and upscale use.")
    o.add_argument("primal", help="official primal state dict (.pt), e.g. DRNS4x.pt")
    o.add_argument("--dual", help="official dual models (.pt, a list of state dicts), e.g. DRNS4x_dual_model.pt; "
                                  "without it the dual networks start from fresh weights")
    o.add_argument("--channels", help="official channel file of a pruned model (search_x4p03.txt), checked "
                                      "against the checkpoint's shapes")
    o.add_argument("--scale", type=int, help="expected scale (default: read from the checkpoint)")
    o.add_argument("-o", "--output", required=True, help="output edgesr checkpoint (.pt)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(a: argparse.Namespace) -> int:
    from edgesr.overwrite import check_output

    check_output(a.output, "pt", overwrite=a.overwrite)
    from edgesr.models import count_params, save_model
    from edgesr.models.official import convert_official

    model = convert_official(a.primal, dual=a.dual, channels=a.channels, scale=a.scale)
    meta = {**getattr(model, "meta", {}), "source_file": str(a.primal)}
    path = save_model(model, a.output, meta=meta)
    c = model.config
    print(f"{model.name} x{c.scale}: n_feats {c.n_feats}, {c.n_blocks} RCABs per level, "
          f"{count_params(model):,} params{' (pruned)' if meta.get('pruned') else ''} -> {path}")
    return 0
