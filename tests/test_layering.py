"""The layering contract, over every import in the source tree (imports inside functions included).

- the deployment side (Upscaler, tiling, memory budget, runtimes, export, calibration, video, capture)
  never imports the training side (training, compression, adaptation);
- models and data import nothing above them (only each other and the shared leaves);
- nothing but the CLI imports the CLI.
A planted forbidden import must be reported (the negative control below).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"edgesr": ROOT / "edgesr", "edgesr.export": ROOT / "export", "edgesr.runtimes": ROOT / "runtimes",
           "edgesr.calibration": ROOT / "calibration"}
TRAINING = ("edgesr.training", "edgesr.compression", "edgesr.adaptation")
DEPLOYMENT = ("edgesr.upscaler", "edgesr.tiling", "edgesr.budget", "edgesr.runtimes", "edgesr.export",
              "edgesr.calibration", "edgesr.video")
LOW = ("edgesr.models", "edgesr.data")
LEAVES = ("edgesr.errors", "edgesr.config", "edgesr.fileio", "edgesr.models", "edgesr.data")


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sources() -> dict[str, str]:
    """Module name -> source text, for every module of the four installed folders."""
    out = {}
    for pkg, folder in FOLDERS.items():
        for f in folder.rglob("*.py"):
            if pkg == "edgesr" and f.relative_to(folder).parts[0] in ("export", "runtimes", "calibration"):
                continue
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f.read_text()
    return out


def imports(module: str, source: str, is_package: bool) -> set[str]:
    """Every edgesr module ``module`` imports, at any depth of its code."""
    found = set()
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # `from . import feed` names a module
    return {n for n in found if n == "edgesr" or n.startswith("edgesr.")}


def violations(srcs: dict[str, str], packages: set[str]) -> list[str]:
    bad = []
    for mod, src in srcs.items():
        for imp in imports(mod, src, mod in packages):
            if _in(mod, DEPLOYMENT) and _in(imp, TRAINING):
                bad.append(f"{mod} (deployment) imports {imp} (training side)")
            if _in(mod, LOW) and imp != "edgesr" and not _in(imp, LEAVES) and imp in srcs:
                bad.append(f"{mod} (models/data) imports {imp}, above it")
            if _in(imp, ("edgesr.cli",)) and not _in(mod, ("edgesr.cli", "edgesr.__main__")):
                bad.append(f"{mod} imports the CLI ({imp})")
    return sorted(bad)


def _packages(srcs: dict[str, str]) -> set[str]:
    pk = set()
    for pkg, folder in FOLDERS.items():
        for f in folder.rglob("__init__.py"):
            rel = f.parent.relative_to(folder).parts
            pk.add(".".join([pkg, *rel]))
    return pk


def test_layering_contract_holds():
    srcs = sources()
    assert len(srcs) > 60
    assert violations(srcs, _packages(srcs)) == []


def test_a_planted_forbidden_import_is_reported():
    srcs = sources()
    planted = dict(srcs)
    planted["edgesr.upscaler"] += "\n\ndef _planted():\n    from .training import train\n    return train\n"
    planted["edgesr.data.datasets"] += "\n\ndef _planted():\n    from ..upscaler import Upscaler\n"
    bad = violations(planted, _packages(srcs))
    assert any(b.startswith("edgesr.upscaler (deployment) imports edgesr.training") for b in bad)
    assert any(b.startswith("edgesr.data.datasets (models/data) imports edgesr.upscaler") for b in bad)
