"""The public surface: every name README and docs/ show resolves to the function or class, never a module.

A package attribute that shares a submodule's name is replaced by the module as soon as anything imports
that submodule (``edgesr.imresize(img, 0.5)`` then raised "'module' object is not callable"), so the
check runs after every submodule of ``edgesr`` has been imported, in a fresh interpreter.
"""
from __future__ import annotations

import json
import subprocess
import sys

import edgesr

PUBLIC = {"AdaptConfig", "DualRegressionLoss", "EdgeSRError", "TrainConfig", "Upscaler", "adapt", "compress",
          "convert_official", "count_flops", "count_params", "create_model", "evaluate", "imresize", "list_models",
          "load_model", "save_model", "stream", "train", "upscale_video"}

_PROBE = r"""
import importlib, json, pkgutil, types
import edgesr
skipped = []
for m in pkgutil.walk_packages(edgesr.__path__, "edgesr."):
    if m.name.endswith("__main__"):  # running it is the CLI
        continue
    try:
        importlib.import_module(m.name)
    except ImportError as e:  # only the GPU stack may be missing here
        if (e.name or "").split(".")[0] not in ("tensorrt", "pycuda", "cuda"):
            raise
        skipped.append(m.name)
bad = {n: type(getattr(edgesr, n)).__name__ for n in edgesr.__all__ if n != "__version__"
       if isinstance(getattr(edgesr, n), types.ModuleType) or not callable(getattr(edgesr, n))}
print(json.dumps({"bad": bad, "skipped": skipped}))
"""


def test_public_names_are_listed():
    assert set(edgesr.__all__) - {"__version__"} == PUBLIC


def test_every_public_name_is_callable_after_every_submodule_is_imported():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["bad"] == {}, f"public names shadowed by a module or not callable: {result['bad']}"


def test_no_public_name_equals_a_submodule_name():
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(edgesr.__path__)}
    assert PUBLIC.isdisjoint(submodules)
