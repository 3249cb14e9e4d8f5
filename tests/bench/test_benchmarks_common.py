"""benchmarks/common.py: the one way the benchmark scripts find the shared data (no absolute paths)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("common", BENCH / "common.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_env_var_then_the_folder_beside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = _common()
    monkeypatch.setenv("EDGESR_SHARED", str(tmp_path))
    assert common.shared_root() == tmp_path and common.shared("data", "x") == tmp_path / "data" / "x"
    monkeypatch.delenv("EDGESR_SHARED")
    assert common.shared_root(check=False) == BENCH.parent.parent / "shared"


def test_a_missing_root_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = _common()
    monkeypatch.setenv("EDGESR_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match=r"shared data folder not found .*nowhere.*set EDGESR_SHARED") as e:
        common.shared("data", "benchmark", "Set5")
    assert "\n" not in str(e.value)
    assert common.shared("data", check=False) == tmp_path / "nowhere" / "data"  # defaults never fail early


def test_no_benchmark_hard_codes_the_shared_data() -> None:
    for f in sorted(BENCH.glob("*.py")):
        src = f.read_text()
        assert "/work" not in src, f"{f.name} hard-codes an absolute path; use common.shared()"
        assert not re.search(r"environ.*EDGESR_SHARED", src), f"{f.name} reads EDGESR_SHARED itself; use common"
        if re.search(r"^from common import", src, re.M):  # loadable by importlib (the tests) as well
            assert src.index("sys.path.insert(0, str(Path(__file__).resolve().parent))") < src.index("from common")
