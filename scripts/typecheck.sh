#!/usr/bin/env bash
# Type-check the whole edgesr package from the source tree, mapped folders included, against
# repaired tensorrt-stubs; then prove the TensorRT check bites (negative control).
#
# Why not `mypy .` from the repo root: export/, runtimes/ and calibration/ become edgesr.export etc.
# only through pyproject's package-dir mapping, which mypy cannot see (it would silently skip them,
# or resolve them as top-level `export`). So the package is laid out in a temp dir as users get it:
# $TMP/src/edgesr/ holds symlinks to every entry of edgesr/ plus edgesr/export -> export/ (etc.,
# read from package-dir), and mypy runs there; no wheel build. Paths in mypy's messages are
# mapped back to the source tree (edgesr/export/x.py -> export/x.py, relative to the repo root).
# Only the temp dir has edgesr/export: never create one beside the mapped folder in the repo.
# (The wheel's only-`edgesr`-at-top-level check is tests/core/test_cli_imports.py.)
#
# mypy settings: pyproject.toml [tool.mypy]. tensorrt-stubs: scripts/trt_stubs.py (also used by
# tests/calibration/test_calib_typing.py).
#
# Usage: scripts/typecheck.sh [extra mypy args]    (uses `python` on PATH, e.g. the .venv; or PYTHON=)
#        TYPECHECK_PACKAGES="edgesr.export edgesr.runtimes" scripts/typecheck.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# lay_out DEST [COPY_PKG]: the symlink tree of the package under DEST; COPY_PKG (e.g. edgesr.export)
# is copied instead of linked, so a file in it can be changed without touching the source tree.
# Prints a sed script that maps DEST-relative paths back to repo-relative ones.
lay_out() {
  "$PY" - "$ROOT" "$@" <<'PYTREE'
import os, shutil, sys
from pathlib import Path
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

root, dest = Path(sys.argv[1]), Path(sys.argv[2])
copy = sys.argv[3] if len(sys.argv) > 3 else None
pkg_dir = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
mapped = {name: d for name, d in pkg_dir.items() if d != name.replace(".", "/")}
top = dest / "edgesr"
top.mkdir(parents=True)
for entry in sorted((root / "edgesr").iterdir()):
    if entry.name == "__pycache__":
        continue
    if (top / entry.name).exists() or f"edgesr.{entry.name}" in mapped:
        sys.exit(f"typecheck: edgesr/{entry.name} clashes with a package-dir mapping")
    os.symlink(entry, top / entry.name)
for name, d in sorted(mapped.items()):
    target = dest / name.replace(".", "/")
    if not target.parent.is_dir():
        sys.exit(f"typecheck: cannot place {name} (parent package missing)")
    if name == copy:
        shutil.copytree(root / d, target, ignore=shutil.ignore_patterns("__pycache__"))
    elif (root / d).is_dir():
        os.symlink(root / d, target)
for name, d in sorted(mapped.items(), key=lambda kv: -len(kv[0])):  # deepest first
    print(f"s#^{name.replace('.', '/')}/#{d}/#")
PYTREE
}

# mypy_run SRC SEDFILE ARGS...: mypy from SRC (the cwd comes first on mypy's search path,
# shadowing the editable edgesr of the venv), messages mapped back to repo paths
mypy_run() {
  local src="$1" sedf="$2"; shift 2
  (cd "$src" && MYPYPATH="$TMP/stubs" "$PY" -m mypy --python-executable "$(command -v "$PY")" \
     --config-file "$ROOT/pyproject.toml" --cache-dir "$TMP/.mypy_cache" "$@" 2>&1) | sed -f "$sedf"
}

lay_out "$TMP/src" >"$TMP/paths.sed"

# tensorrt-stubs: copied and repaired (see scripts/trt_stubs.py), else every TensorRT call is Any
HAVE_STUBS=1
mkdir -p "$TMP/stubs"
"$PY" "$ROOT/scripts/trt_stubs.py" "$TMP/stubs" >/dev/null || {
  rc=$?; [ "$rc" -eq 3 ] || exit "$rc"; HAVE_STUBS=0
  echo "typecheck: tensorrt-stubs not installed: TensorRT calls are NOT checked (pip install --no-deps tensorrt-stubs)" >&2
}

# Packages checked; modules they import are used for types but their own errors are not reported
# (follow_imports = silent), so each owner is answerable for their package only.
PACKAGES="${TYPECHECK_PACKAGES:-edgesr}"  # the whole package, mapped folders included
ARGS=()
for pkg in $PACKAGES; do
  # a mapped package with no modules yet is skipped rather than failing the whole check
  if [ -f "$TMP/src/${pkg//.//}/__init__.py" ] || [ -f "$TMP/src/${pkg//.//}.py" ]; then ARGS+=(-p "$pkg")
  else echo "typecheck: $pkg not in the source tree, skipped" >&2; fi
done
case " $PACKAGES " in *" edgesr "*) ;; *) if [ -f "$TMP/src/edgesr/cli/export.py" ]; then ARGS+=(-m edgesr.cli.export); fi ;; esac
mypy_run "$TMP/src" "$TMP/paths.sed" "${ARGS[@]}" "$@"

# Negative control: a typo on the TensorRT module handle must fail the check (if it passed, the
# handle would be untyped, or the stubs unused, and every TensorRT call unchecked).
if [ "$HAVE_STUBS" = 1 ] && [ -f "$TMP/src/edgesr/export/trt_compat.py" ]; then
  lay_out "$TMP/neg" edgesr.export >/dev/null
  f="$TMP/neg/edgesr/export/trt_compat.py"
  sed -i 's/trt_module\.OnnxParser(/trt_module.OnnxParserr(/' "$f"
  grep -q 'trt_module\.OnnxParserr(' "$f" || { echo "typecheck: negative control could not plant its typo (no 'trt_module.OnnxParser(' in export/trt_compat.py)" >&2; exit 1; }
  if out="$(mypy_run "$TMP/neg" "$TMP/paths.sed" -m edgesr.export.trt_compat)"; then
    echo "$out" >&2
    echo "typecheck: NEGATIVE CONTROL FAILED: mypy accepted 'trt_module.OnnxParserr' (the TensorRT handle is not checked)" >&2
    exit 1
  fi
  line="$(grep -m1 'OnnxParserr' <<<"$out" || true)"
  [ -n "$line" ] || { echo "$out" >&2; echo "typecheck: negative control: mypy failed, but not on the planted typo" >&2; exit 1; }
  echo "typecheck: negative control OK (planted typo rejected): $line"
fi
