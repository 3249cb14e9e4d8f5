"""Training: the dual regression loop (:func:`train`) and its parts.

Holds ``loop`` (``train``, ``TrainConfig``, one step), ``losses`` (the dual regression loss:
L1(P(x), y) + λ·L1(D(P(x)), x)), ``state`` (exact resume and honest records), ``feed`` (batches,
worker processes), ``mix`` (paired / unpaired stream mixing), ``amp`` (bf16 / fp16 autocast by CPU
flags, channels_last), ``env`` (threads, DDP rank, signals), ``warm`` (warm starts across widths and
scales), ``ema`` (weight averaging with warm-up) and ``distill`` (teacher distillation).
Training side: may import ``edgesr.models``, ``edgesr.data``, ``edgesr.evaluation`` and the shared
leaves (errors, config, fileio, signals, precision, hub); the deployment side (``Upscaler``,
runtimes, export, calibration, video) never imports it.
"""
from __future__ import annotations

from .loop import TrainConfig, TrainingFailed, TrainingInterrupted, TrainStep, config_from_dict, train
from .warm import warm_start

__all__ = ["TrainConfig", "TrainStep", "TrainingFailed", "TrainingInterrupted", "config_from_dict", "train", "warm_start"]
