"""``edgesr doctor``: what this machine can run (backends, precisions, DLA), each gap with its fix."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-trt-probe", action="store_true",
                   help="do not import TensorRT (in a child process) to read its version and DLA cores")


def run(args: argparse.Namespace) -> int:
    from edgesr.bench.doctor import diagnose

    report = diagnose(probe_tensorrt=not args.no_trt_probe)
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.text())
    return 0
