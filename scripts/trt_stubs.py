"""Copy tensorrt-stubs to DEST, repaired so mypy uses it; print DEST. The only stub-repair code:
scripts/typecheck.sh and tests/calibration/test_calib_typing.py both call it.

Why: tensorrt-stubs (checked on 10.13) installs bare ``tensorrt/`` and ``tensorrt_bindings/`` stub
folders without ``py.typed``, which mypy does not use from site-packages (so, with
``ignore_missing_imports``, every TensorRT name would silently be ``Any``). Its generated stubs also
do not parse: parameters named ``in`` (a keyword) in plugin signatures, a parameter without a default
after defaulted ones (``add_scale_nd(..., power: Weights = None, channel_axis: int)``), and an import
of the runtime-only ``tensorrt_libs``. Here they are copied onto a folder for MYPYPATH and repaired:
``in`` -> ``in_``, a missing default becomes ``= ...``, ``tensorrt_libs.pyi`` is an empty stub.
Every ``.pyi`` must then parse, else this fails naming the file (a new stubs release with new
breakage is reported, not silently ignored).

Usage: python scripts/trt_stubs.py DEST    (exit 3 when tensorrt-stubs is not installed)
"""
from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import sys
from pathlib import Path

PACKAGES = ("tensorrt", "tensorrt_bindings")
NOT_INSTALLED = 3


class StubsNotInstalled(RuntimeError):
    pass


def installed_stubs() -> Path:
    """The site-packages folder holding tensorrt-stubs' ``tensorrt/`` stubs."""
    spec = importlib.util.find_spec("tensorrt_stubs")
    if spec is None or not spec.submodule_search_locations:
        raise StubsNotInstalled("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
    site = Path(list(spec.submodule_search_locations)[0]).parent
    if not (site / "tensorrt" / "__init__.pyi").is_file():
        raise StubsNotInstalled(f"tensorrt-stubs is installed but {site / 'tensorrt' / '__init__.pyi'} is missing")
    return site


_IN_PARAM = re.compile(r"([(,]\s*)in(\s*:)")
# `..., name: T = None, last: U) ->`: a trailing parameter without a default after a defaulted one
_MISSING_DEFAULT = re.compile(r"(=\s*[^,()]+,\s*\w+\s*:\s*[\w\[\], .|]+?)\)(\s*->)")


def repair_text(text: str) -> str:
    """Repair the signatures (``def`` lines only; docstrings are left alone)."""
    def fix(m: re.Match[str]) -> str:
        line = _IN_PARAM.sub(r"\1in_\2", m.group(0))
        return _MISSING_DEFAULT.sub(r"\1 = ...)\2", line)

    return re.sub(r"^[ \t]*def .*$", fix, text, flags=re.M)


def repair_stubs(dest: str | Path, site: Path | None = None) -> Path:
    """Copy the installed stubs into ``dest`` (created), repair them and check that they parse."""
    site = installed_stubs() if site is None else site
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        shutil.copytree(site / pkg, dest / pkg, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "tensorrt_libs.pyi").write_text("# runtime-only package of the tensorrt wheel; empty stub\n")
    for f in sorted(dest.rglob("*.pyi")):
        text = f.read_text()
        fixed = repair_text(text)
        if fixed != text:  # files needing no repair stay byte-identical
            f.write_text(fixed)
            text = fixed
        try:
            ast.parse(text, filename=str(f), feature_version=(3, 10))
        except SyntaxError as e:
            raise SyntaxError(f"{f}:{e.lineno}: tensorrt-stubs still unparsable after repair ({e.msg}); "
                              "extend scripts/trt_stubs.py for this stubs release") from None
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        print(repair_stubs(argv[0]))
    except StubsNotInstalled as e:
        print(f"trt_stubs: {e}", file=sys.stderr)
        return NOT_INSTALLED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
