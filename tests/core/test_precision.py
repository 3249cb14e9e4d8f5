"""Precision enum and the CPU-flag expectation that Upscaler.info() reports."""
from __future__ import annotations

import pytest

from edgesr.errors import ConfigError
from edgesr.precision import Precision, cpu_flags, expected_cpu_precision

AVX2 = "processor : 0\nmodel name : AMD EPYC\nflags : fpu sse2 avx avx2 fma\n"
VNNI = "processor : 0\nflags : fpu avx2 avx512f avx512_vnni avx512_bf16\n"
ARM = "processor : 0\nFeatures : fp asimd asimddp\n"


def test_parse() -> None:
    assert Precision.parse("FP16") is Precision.FP16 and Precision.parse(Precision.INT8) is Precision.INT8
    with pytest.raises(ConfigError, match="use one of fp32, fp16, int8"):
        Precision.parse("bf8")


@pytest.mark.parametrize("text, expected", [(AVX2, Precision.FP32), (VNNI, Precision.INT8), (ARM, Precision.INT8),
                                            ("", Precision.FP32)])
def test_expected_cpu_precision_from_flags(text: str, expected: Precision) -> None:
    best, why = expected_cpu_precision(text)
    assert best is expected and why
    assert ("edgesr bench" in why) or "slower" in why


def test_cpu_flags_reads_x86_and_arm() -> None:
    assert "avx512_vnni" in cpu_flags(VNNI) and "asimddp" in cpu_flags(ARM) and cpu_flags("") == set()
