"""benchmarks/drc_study.py: every arm maps to the selection rule and pruning-loss lambda it claims."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "drc_study.py"


@pytest.fixture(scope="module")
def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drc_study", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXPECTED = {  # arm -> (PruneConfig.select, dual_weight of the pruning loss)
    "l1": ("l1", 0.1), "random": ("random", 0.1), "drc_12": ("drc", 0.1), "drc_12_l0": ("drc", 0.0),
    "drc_centered": ("drc_centered", 0.1), "drc_omp": ("drc_omp", 0.1), "drc_omp_l0": ("drc_omp", 0.0),
    "l1_kd": ("l1", 0.1), "drc_omp_kd": ("drc_omp", 0.1), "l1_uniform": ("l1", 0.1),
    "drc_omp_uniform": ("drc_omp", 0.1),
}


def test_every_pruned_arm_has_its_rule(study: ModuleType) -> None:
    knobs = argparse.Namespace(prune_batches=2, reopt_steps=3, prune_batch=None, prune_patch=48)
    assert set(study.ARMS) - {"unpruned", "drc"} == set(EXPECTED)
    for arm, (select, lam) in EXPECTED.items():
        cfg = study.arm_config(knobs, arm, seed=1)
        assert (cfg.select, cfg.dual_weight, cfg.batches, cfg.reopt_steps, cfg.patch, cfg.seed) == \
            (select, lam, 2, 3, 48, 1), arm
    legacy = study.arm_config(knobs, "drc", seed=1)  # as shipped: the study knobs do not touch it
    assert (legacy.select, legacy.patch, legacy.feat_weight, legacy.fresh) == ("drc", 24, 1.0, False)
