"""edgesr.machine.describe_machine: the one machine description every benchmark result carries."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys

from edgesr.machine import CPU_FLAGS_OF_INTEREST, describe_machine

ZEN4 = "processor : 0\nmodel name : AMD EPYC 9R14\nflags : fpu avx2 avx512f avx512_vnni avx512_bf16\n"
ARM = "processor : 0\nFeatures : fp asimd asimddp\n"


def test_describes_cpu_flags_cores_threads_versions_and_date() -> None:
    d = describe_machine(3, cpuinfo=ZEN4)
    assert {"cpu", "flags", "cpu_count", "threads", "python", "platform", "edgesr", "date"} <= set(d)
    assert d["cpu"] == "AMD EPYC 9R14" and d["threads"] == 3 and d["cpu_count"] >= 1
    assert set(d["flags"]) == set(CPU_FLAGS_OF_INTEREST)
    assert d["flags"]["avx512_vnni"] and d["flags"]["avx512_bf16"] and not d["flags"]["amx_int8"]
    assert datetime.datetime.fromisoformat(d["date"]).tzinfo is not None
    assert "torch" in d and "onnxruntime" in d  # installed here (the test extra)
    json.dumps(d)  # a result file stores it as is
    arm = describe_machine(cpuinfo=ARM, device="cpu")
    assert arm["flags"]["asimddp"] and arm["cpu"] != "unknown" and arm["device"] == "cpu" and arm["threads"] is None


def test_describing_imports_neither_torch_nor_onnxruntime() -> None:
    code = ("import sys; from edgesr.machine import describe_machine; d = describe_machine(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'torch', 'tensorrt'}), "
            "'onnxruntime' in d)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["[]", "True"]
