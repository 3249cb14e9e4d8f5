"""The adapt report says when its training loss rose (issue 25: 0.210 -> 0.229 was printed without comment)."""
from __future__ import annotations

from edgesr.adaptation.metrics import Comparison, FrameMetrics
from edgesr.adaptation.run import AdaptReport, loss_comment


def _report(dual_loss: tuple[float, float]) -> AdaptReport:
    m = FrameMetrics(dual_psnr=38.0, sharpness=1.1, gradient=1.0, blockiness=1.0, frames=4)
    return AdaptReport("edge_tiny_x2", "clip.mp4", "a.pt", "a.json", 2, 300, 8, 2, (320, 180), Comparison(m, m),
                       None, dual_loss)


def test_a_loss_that_rose_is_said_with_the_figure_and_what_to_try() -> None:
    line = _report((0.210, 0.229)).table().splitlines()[-1]
    assert "0.21000 -> 0.22900" in line and "ROSE by 9%" in line and "--lr" in line


def test_a_loss_that_fell_or_held_has_no_comment() -> None:
    assert _report((0.229, 0.210)).table().splitlines()[-1].endswith("0.22900 -> 0.21000")
    assert loss_comment(0.2100, 0.2101) == ""  # noise, not a rise
    assert loss_comment(0.0, 0.1) == ""
