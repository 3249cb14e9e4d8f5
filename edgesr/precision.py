"""Precision is one enum (fp32 / fp16 / int8), never two booleans."""
from __future__ import annotations

from enum import Enum

from .errors import ConfigError


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: "str | Precision") -> "Precision":
        if isinstance(value, Precision):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(f"unknown precision {value!r}; use one of fp32, fp16, int8") from None

    def __str__(self) -> str:
        return self.value
