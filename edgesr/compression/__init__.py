"""Dual regression compression (DRC, Guo et al. 2022): channel number search, dual-regression
channel pruning and fine-tuning, producing a physically smaller model that ``load_model`` and
ONNX export handle like any other (its per-layer channel list is part of its config).
"""
from __future__ import annotations

from .common import CostModel, cost_model, l1_keep, materialize, random_keep, round4
from .pipeline import STAGES, CompressConfig, CompressReport, FinetuneConfig, compress, ort_latency_ms
from .prune import PruneConfig, prune, select_channels
from .search import SEARCH_MODES, SearchConfig, search_channels, search_space
from .select import RULES
from .space import SearchSpace, fit_budget, project

__all__ = [
    "compress", "CompressConfig", "CompressReport", "FinetuneConfig", "SearchConfig", "SearchSpace", "PruneConfig",
    "search_channels", "search_space", "project", "select_channels", "prune", "materialize", "l1_keep",
    "random_keep", "cost_model", "CostModel", "round4", "ort_latency_ms", "STAGES", "fit_budget", "RULES",
    "SEARCH_MODES",
]
