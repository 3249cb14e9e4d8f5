"""One exception family: every error a user can act on is an ``EdgeSRError``.

Each message names the problem *and* the fix, so the CLI can print it without a traceback.
"""
from __future__ import annotations


class EdgeSRError(Exception):
    """Base class for all edgesr errors."""


class ConfigError(EdgeSRError, ValueError):
    """A configuration value or key is invalid."""


class ModelFormatError(EdgeSRError):
    """A model/checkpoint/engine file is missing, corrupt or of an unknown kind."""


class DataError(EdgeSRError):
    """Input data (images, folders, videos, calibration sets) cannot be used."""


class InputError(EdgeSRError, ValueError):
    """A frame passed to the runtime has the wrong dtype, shape or channel count."""


class Stopped(EdgeSRError):
    """A run stopped on request (SIGTERM, Ctrl-C) after saving its state: not a failure. The message
    says where the state is and how to continue; the CLI prints it without "error:"."""

    exit_code = 143  # 128 + SIGTERM, as shells report a terminated process (130 for Ctrl-C)


class MissingDependencyError(EdgeSRError, ImportError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        fix = f"pip install 'edgesr[{extra}]'" if extra else f"pip install {package}"
        msg = f"{package} is required{(' ' + why) if why else ''} but is not installed; fix: {fix}"
        super().__init__(msg)
        self.package = package
        self.extra = extra


class EngineMismatchError(ModelFormatError):
    """A TensorRT engine was built for another GPU or TensorRT version."""
