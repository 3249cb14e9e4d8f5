"""Selection rules on constructed data: what each rule picks, and why (edgesr.compression.select)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import edgesr
from edgesr.compression.common import widths
from edgesr.compression.select import (LeastSquaresStats, grad_scores, greedy_order, static_keep, weight_grad)
from edgesr.errors import ConfigError


def _conv(c: int = 4, o: int = 3, k: int = 3, bias: bool = True) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(c, o, k, padding=k // 2, bias=bias)


def _duplicate_setup():
    """Inputs where channel 3 is an exact copy of channel 0; the residual to explain comes mostly
    from channel 0, then channel 1, then channel 2 (delta = MSE gradient at w = 0)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 4, 10, 10, generator=g)
    x[:, 3] = x[:, 0]
    conv = _conv()
    w_true = torch.zeros_like(conv.weight)
    w_true[:, 0] = 1.0 * torch.randn(3, 3, 3, generator=g)
    w_true[:, 1] = 0.6 * torch.randn(3, 3, 3, generator=g)
    w_true[:, 2] = 0.3 * torch.randn(3, 3, 3, generator=g)
    t = F.conv2d(x, w_true, padding=1)
    fw = 1.0
    delta = 2 * fw * (0 - t) / t.numel()  # d/dy of fw * MSE(y, t) at y = 0
    return x, delta, conv, 2 * fw / t.numel()


def test_omp_keeps_only_one_of_two_duplicate_channels_drc_keeps_both():
    x, delta, conv, curv = _duplicate_setup()
    st = LeastSquaresStats(conv)
    st.add(x, delta, curv)
    omp = greedy_order(st.scores, 3)
    assert len({0, 3} & set(omp)) == 1 and 1 in omp, omp
    # the duplicate scores ~0 once its twin is kept: the kept set already explains it (up to the ridge)
    twin = 3 if omp[0] == 0 else 0
    s = st.scores([omp[0]])
    assert s[twin] < 1e-2 * s.max()
    exact = LeastSquaresStats(conv, ridge=1e-12)
    exact.add(x, delta, curv)
    s = exact.scores([omp[0]])
    assert s[twin] < 1e-8 * s.max()
    # DRC's gradient score sees two identical, strongest channels and (without an exact refit) keeps both
    drc = grad_scores(weight_grad(x, delta, conv), "l21")
    assert torch.allclose(drc[0], drc[3]) and set(torch.topk(drc, 2).indices.tolist()) == {0, 3}


def test_omp_step_is_the_least_squares_refit():
    x, delta, conv, curv = _duplicate_setup()
    st = LeastSquaresStats(conv, ridge=1e-10)
    st.add(x, delta, curv)
    kept = [0, 1, 2]
    dw, db = st.step(kept)
    assert torch.all(dw[:, 3] == 0)
    # the target t = -delta * n / 2: the Newton step from w = 0 is the least-squares fit of t on the kept channels
    t = -delta / curv
    cols = F.unfold(x[:, kept], 3, padding=1).transpose(1, 2).reshape(-1, 27)
    cols = torch.cat([cols, torch.ones(len(cols), 1)], 1).double()
    sol = torch.linalg.lstsq(cols, t.permute(0, 2, 3, 1).reshape(-1, 3).double()).solution
    got = torch.cat([dw[:, kept].reshape(3, -1), db[:, None]], 1).double().T
    assert torch.allclose(got, sol, atol=1e-4)
    y = F.conv2d(x, dw, db, padding=1)
    assert F.mse_loss(y, t) < 1e-8  # channel 0-2 explain t exactly


def test_centering_changes_the_pick_on_a_constant_offset_channel():
    """Channel 0 is a large constant plus noise unrelated to the residual; channel 1 is zero-mean and
    drives it. The residual has a mean (what a bias would fit). Uncentred DRC picks the offset channel,
    centred DRC the informative one."""
    g = torch.Generator().manual_seed(2)
    x = torch.zeros(4, 2, 12, 12)
    x[:, 0] = 5.0 + 0.01 * torch.randn(4, 12, 12, generator=g)
    x[:, 1] = torch.randn(4, 12, 12, generator=g)
    delta = (0.3 * x[:, 1] + 1.0)[:, None]  # 1 output channel
    conv = _conv(c=2, o=1, k=1)
    plain = grad_scores(weight_grad(x, delta, conv), "l21")
    centred = grad_scores(weight_grad(x, delta, conv, centered=True), "l21")
    assert int(torch.argmax(plain)) == 0 and int(torch.argmax(centred)) == 1
    st = LeastSquaresStats(conv)  # OMP with its bias atom also prefers the informative channel
    st.add(x, delta, 1.0)
    assert int(torch.argmax(st.scores([]))) == 1


def test_grad_score_norms():
    g = torch.randn(5, 4, 3, 3)
    assert torch.allclose(grad_scores(g, "l21"), torch.stack([sum(g[o, c].norm() for o in range(5))
                                                              for c in range(4)]))
    assert torch.allclose(grad_scores(g, "fro2"), torch.stack([g[:, c].pow(2).sum() for c in range(4)]))
    with pytest.raises(ConfigError, match="did you mean 'l21'"):
        grad_scores(g, "l2")


def test_l1_and_random_rules():
    torch.manual_seed(0)
    m = edgesr.create_model("edge_tiny", 2, n_feats=16, n_blocks=2)
    with torch.no_grad():
        for p in m.prunable():
            p.producer.weight.mul_(0.01)
            p.producer.weight[[2, 7, 11]] *= 100.0  # the three strongest filters
    ch = [3] * len(widths(m))
    assert static_keep(m, ch, "l1") == [[2, 7, 11]] * len(ch)
    r0, r0b, r1 = (static_keep(m, ch, "random", seed=s) for s in (0, 0, 1))
    assert r0 == r0b and r0 != r1  # seeded: reproducible, and another seed draws another subset
    assert all(len(k) == 3 and len(set(k)) == 3 and max(k) < 16 for k in r0)
    with pytest.raises(ConfigError, match="greedy"):
        static_keep(m, ch, "drc")
