"""Adaptation: unpaired fine-tuning of a model on LR frames of its target source (``edgesr adapt``).

Holds ``run`` (:func:`adapt`, its config and report, and :func:`fit_dual`), ``frames`` (evenly spaced
frames from a video, camera, stream or folder) and ``metrics`` (the no-reference measures of the
report: dual consistency, sharpness, blockiness). Training side: may import ``edgesr.data``,
``edgesr.models``, ``edgesr.video.sources``, ``edgesr.training`` and the shared leaves (errors, config,
fileio, metrics); nothing on the deployment side imports it.
"""
from __future__ import annotations

from .run import AdaptConfig, AdaptReport, adapt, fit_dual, held_out

__all__ = ["AdaptConfig", "AdaptReport", "adapt", "fit_dual", "held_out"]
