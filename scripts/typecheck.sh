#!/usr/bin/env bash
# Type-check the *installed* package, as users get it.
#
# Why not `mypy .` from the repo root: export/, runtimes/ and calibration/ become edgesr.export etc.
# only through pyproject's package-dir mapping, which mypy cannot see (it would silently skip them,
# or resolve them as top-level `export`). So: build a wheel, install it non-editable into a temp
# dir, and run mypy from there with tensorrt-stubs visible, so a misspelt TensorRT call fails.
#
# Usage: scripts/typecheck.sh [extra mypy args]    (uses `python` on PATH, e.g. the .venv; or PYTHON=)
#        TYPECHECK_PACKAGES="edgesr.export edgesr.runtimes" scripts/typecheck.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$PY" -m pip wheel --no-deps --no-build-isolation -q -w "$TMP/wheel" "$ROOT" >"$TMP/build.log" 2>&1 \
  || { cat "$TMP/build.log" >&2; echo "typecheck: wheel build failed" >&2; exit 1; }
"$PY" -m pip install --no-deps -q --target "$TMP/site" "$TMP"/wheel/edgesr-*.whl
# the wheel's only top-level package must be edgesr (the package-dir mapping worked)
TOP="$(cd "$TMP/site" && ls -d */ | grep -v '\.dist-info/$' | grep -v '^bin/$' | tr -d '/' | tr '\n' ' ')"
if [ "$TOP" != "edgesr " ]; then echo "typecheck: wheel top-level packages are '$TOP', expected 'edgesr'" >&2; exit 1; fi

# tensorrt-stubs: its `tensorrt/` has no py.typed, so mypy ignores it where pip put it (and, with
# ignore_missing_imports, every TensorRT call would silently be Any). Copy it onto MYPYPATH and
# repair what its generator got wrong (10.13: parameters named `in`, a non-default parameter after
# defaults, an import of the runtime-only `tensorrt_libs`) so mypy can parse it; errors inside the
# stubs themselves are ignored.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$TMP/stubs"
if [ -f "$SITE/tensorrt/__init__.pyi" ]; then
  cp -r "$SITE/tensorrt" "$SITE/tensorrt_bindings" "$TMP/stubs/"
  touch "$TMP/stubs/tensorrt_libs.pyi"
  "$PY" - "$TMP/stubs" <<'PYFIX'
import re
import sys
from pathlib import Path

for f in Path(sys.argv[1]).rglob("*.pyi"):
    s = f.read_text()
    s = re.sub(r"(\(|, )in: ", r"\1in_: ", s)
    s = re.sub(r"(= None, \w+: [\w\[\], .|]+?)\)( ->)", r"\1 = ...)\2", s)
    f.write_text(s)
PYFIX
else
  echo "typecheck: tensorrt-stubs not installed: TensorRT calls are NOT checked (pip install --no-deps tensorrt-stubs)" >&2
fi
cat > "$TMP/mypy.ini" <<'INI'
[mypy]
python_version = 3.10
ignore_missing_imports = True
follow_imports = silent
[mypy-tensorrt,tensorrt.*,tensorrt_bindings,tensorrt_bindings.*,tensorrt_libs]
ignore_errors = True
INI

cd "$TMP/site"
# Packages checked; modules they import are used for types but their own errors are not reported
# (follow_imports = silent), so each owner is answerable for their package only.
PACKAGES="${TYPECHECK_PACKAGES:-edgesr}"  # the whole installed package, mapped folders included
ARGS=()
for pkg in $PACKAGES; do
  # a mapped package with no modules yet is skipped rather than failing the whole check
  if [ -f "${pkg//.//}/__init__.py" ] || [ -f "${pkg//.//}.py" ]; then ARGS+=(-p "$pkg")
  else echo "typecheck: $pkg not in the wheel, skipped" >&2; fi
done
case " $PACKAGES " in *" edgesr "*) ;; *) if [ -f edgesr/cli/export.py ]; then ARGS+=(-m edgesr.cli.export); fi ;; esac
# the cwd ($TMP/site) comes first on mypy's search path, shadowing the editable edgesr of the venv
MYPYPATH="$TMP/stubs" "$PY" -m mypy --python-executable "$(command -v "$PY")" --cache-dir "$TMP/.mypy_cache" \
  --config-file "$TMP/mypy.ini" "${ARGS[@]}" "$@"
