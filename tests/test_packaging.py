"""The built wheel holds exactly the source tree, as the one top-level package ``edgesr``.

pyproject maps the top-level export/, runtimes/, calibration/ folders to edgesr.export etc. through
``package-dir`` and lists every package by hand, so a new subpackage missing from ``packages`` would
silently be left out of the wheel. The wheel is built from a clean copy of the sources: an in-tree
build reuses build/lib and ships modules deleted since (a stale build/ once put edgesr/video.py
beside the edgesr/video/ package). tests/core/test_cli_imports.py checks the in-tree wheel's top level.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def _package_dirs() -> dict[str, str]:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    pkg_dir: dict[str, str] = setup["package-dir"]
    return {name: pkg_dir.get(name, name.replace(".", "/")) for name in setup["packages"]}


def _source_modules() -> set[str]:
    """Every .py of the source tree, named as it must land in the wheel."""
    mapped = {d: name for name, d in _package_dirs().items() if d != name.replace(".", "/")}
    out = set()
    for py in (ROOT / "edgesr").rglob("*.py"):
        out.add(py.relative_to(ROOT).as_posix())
    for d, name in mapped.items():
        for py in (ROOT / d).rglob("*.py"):
            out.add(f"{name.replace('.', '/')}/{py.relative_to(ROOT / d).as_posix()}")
    return {m for m in out if "__pycache__" not in m}


def test_wheel_is_exactly_the_source_tree_under_edgesr(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in {"edgesr", *_package_dirs().values()}:
        if "/" not in d and (ROOT / d).is_dir():
            shutil.copytree(ROOT / d, src / d, ignore=skip)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("edgesr-*.whl"))).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"edgesr"}
    modules = {n for n in names if n.endswith(".py")}
    expected = _source_modules()
    assert not expected - modules, f"source modules missing from the wheel (add their package to pyproject's packages): {sorted(expected - modules)}"
    assert not modules - expected, f"wheel modules with no source file: {sorted(modules - expected)}"
    assert "edgesr/py.typed" in names
