"""Teacher distillation (``TrainConfig.teacher``, ``edgesr train --teacher X --distill output|feature``).

The teacher (a ``.pt`` or a bundled name such as ``edge_base_x2``) runs in eval mode under
``no_grad`` on every training batch, paired or unpaired, and adds ``teacher_weight`` times

* ``output``: L1 between the student's and the teacher's SR outputs (same scale required);
* ``feature``: MSE between the student's and the teacher's body output, the feature map that
  enters the tail conv of an EdgeSR model (both must be family ``edge``; LR resolution, so the
  shapes match). Equal widths compare directly, otherwise a trainable 1x1 conv maps the student's
  width to the teacher's (initialized as PyTorch does; trained with the student, kept in
  ``last.pt``, not in ``model.pt``).

The teacher is held outside the module tree, so DDP, the optimizer and checkpoints never see it.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..hub import bundled_model_by_name, is_bundled_name
from ..models import load_model
from ..models.base import SRModel

MODES = ("output", "feature")


def load_teacher(spec: str, device: torch.device) -> SRModel:
    """The teacher model of ``spec`` (a ``.pt`` file or a bundled name), frozen, in eval mode."""
    path = bundled_model_by_name(spec, format="pt") if is_bundled_name(spec) else Path(spec)
    teacher = load_model(path).to(device).eval()
    teacher.requires_grad_(False)
    return teacher


def _body_width(model: SRModel, role: str, mode_fix: str) -> int:
    if model.family != "edge" or not isinstance(getattr(model, "tail", None), nn.Module):
        raise ConfigError(f"feature distillation reads the body output before the tail, which only EdgeSR models "
                          f"(family 'edge') have; the {role} {model.name!r} is family {model.family!r}; {mode_fix}")
    return int(model.config.n_feats)


class Distiller(nn.Module):
    """The distillation term; ``weight`` scales it in the total loss (see the module docstring)."""

    def __init__(self, teacher: SRModel, student: SRModel, mode: str = "output", weight: float = 1.0) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"distill must be one of {', '.join(MODES)}, got {mode!r}")
        if teacher.scale != student.scale:
            raise ConfigError(f"the teacher is x{teacher.scale} but the student is x{student.scale}; "
                              "use a teacher of the same scale")
        self.mode, self.weight = mode, weight
        self._teacher = (teacher,)  # a tuple: not a registered submodule
        self.adapter: nn.Module = nn.Identity()
        if mode == "feature":
            fix = "use --distill output"
            sw, tw = _body_width(student, "student", fix), _body_width(teacher, "teacher", fix)
            if sw != tw:
                p = next(student.parameters())
                self.adapter = nn.Conv2d(sw, tw, 1).to(device=p.device)

    @property
    def teacher(self) -> SRModel:
        return self._teacher[0]

    @contextlib.contextmanager
    def capture(self, model: SRModel) -> Iterator[list[torch.Tensor]]:
        """Collects the input of ``model.tail`` (the body output) during the block (feature mode)."""
        feats: list[torch.Tensor] = []
        if self.mode != "feature":
            yield feats
            return

        def hook(_m: nn.Module, args: tuple[Any, ...]) -> None:
            feats.append(args[0])

        tail: nn.Module = getattr(model, "tail")
        handle = tail.register_forward_pre_hook(hook)
        try:
            yield feats
        finally:
            handle.remove()

    def forward(self, lr: torch.Tensor, student_out: torch.Tensor, student_feats: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad(), self.capture(self.teacher) as teacher_feats:
            teacher_out = self.teacher(lr)
        if self.mode == "output":
            return F.l1_loss(student_out.float(), teacher_out.float())
        if len(student_feats) != 1 or len(teacher_feats) != 1:
            raise ConfigError("feature distillation expected one pass through each model's tail")
        return F.mse_loss(self.adapter(student_feats[0]).float(), teacher_feats[0].float())


__all__ = ["Distiller", "load_teacher", "MODES"]
