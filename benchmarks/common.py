"""What the benchmark scripts share: where the shared data (``data/``, ``peers/``) lives.

The root is ``$EDGESR_SHARED``, else ``shared/`` beside the repository (``../shared`` from its root).
Scripts import it as ``from common import shared`` after putting their own folder on ``sys.path``
(``sys.path.insert(0, str(Path(__file__).resolve().parent))``), so they also work when loaded by
``importlib`` from the tests.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"
ENV = "EDGESR_SHARED"


def shared_root(check: bool = True) -> Path:
    """The shared data root: ``$EDGESR_SHARED``, else ``../shared`` beside the repository. With ``check``
    a missing folder ends the script with one line naming the fix."""
    env = os.environ.get(ENV)
    root = Path(env).expanduser() if env else DEFAULT_SHARED
    if check and not root.is_dir():
        where = f"{ENV}={env}" if env else f"the default {DEFAULT_SHARED}"
        raise SystemExit(f"shared data folder not found ({where}); set {ENV} to the folder holding data/ "
                         f"(e.g. {ENV}=/path/to/shared python benchmarks/...)")
    return root


def shared(*parts: str, check: bool = True) -> Path:
    """A path under the shared root, e.g. ``shared("data", "benchmark", "Set5")`` (see :func:`shared_root`;
    ``check=False`` for defaults computed before knowing whether they are used)."""
    return shared_root(check).joinpath(*parts)


def provenance(knobs: dict[str, object] | None = None, note: str | None = None) -> dict[str, object]:
    """What a record needs to be reproduced and trusted (issue 22): commit (and whether the tree was dirty),
    date, command line, every knob, the machine (CPU model and flags, threads, versions) and a free note on
    the conditions (e.g. what else ran on the machine)."""
    import datetime
    import subprocess
    import sys

    from edgesr.machine import describe_machine

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]), "knobs": dict(knobs or {}),
            "machine": describe_machine(), "note": note}


__all__ = ["DEFAULT_SHARED", "ENV", "REPO", "provenance", "shared", "shared_root"]
