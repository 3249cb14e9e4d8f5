"""scripts/campaign.py: minutes across resumes, the train command of a plan item, the committed plan."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("campaign", ROOT / "scripts" / "campaign.py")
assert spec and spec.loader
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)


def test_minutes_add_up_segments_of_a_resumed_log():
    recs = [{"time": 60.0}, {"time": 120.0}, {"time": 30.0}, {"time": 90.0}]  # resumed after 120 s
    assert campaign.minutes(recs) == 3.5
    assert campaign.minutes([]) == 0.0


def test_command_maps_the_recipe_to_train_flags():
    item = {"name": "r", "target_steps": 500,
            "recipe": {"model": "edge_tiny", "scale": 2, "model_kwargs": {"luma": True}, "data": ["a", "b"],
                       "channels_last": True}}
    cmd = campaign.command(item, threads=1)
    assert cmd[:3] == ["nice", "-n", "10"] and "--resume" in cmd
    i = cmd.index("--data")
    assert cmd[i + 1: i + 3] == ["a", "b"]
    assert cmd[cmd.index("--model-kwargs") + 1] == json.dumps({"luma": True})
    assert "--channels-last" in cmd and cmd[-2:] == ["--steps", "500"]


def test_the_committed_plan_names_every_field_a_run_needs():
    plan = json.loads((ROOT / "benchmarks" / "campaign" / "plan.json").read_text())
    names = [r["name"] for r in plan["runs"]]
    assert len(names) == len(set(names))
    for r in plan["runs"]:
        assert {"checkpoint_dir", "recipe", "target_steps", "checkpoint_rule", "status", "next"} <= set(r)
        assert r["status"] in ("pending", "running", "done")
        assert all(d in names for d in r.get("after", []))
        assert "benchmark/Set5" not in r["recipe"].get("val_data", "") or "final step" in r["checkpoint_rule"]


def test_thinned_log_keeps_validation_segment_ends_and_minutes():
    recs = [{"step": s, "time": float(s)} for s in range(1, 101)]  # first segment: steps 1..100
    recs += [{"step": s, "time": float(s - 100)} for s in range(101, 151)]  # resumed: time restarts
    recs[49]["val_psnr"] = 30.0  # step 50
    text = "\n".join(json.dumps(r) for r in recs) + "\n"
    kept = [json.loads(ln) for ln in campaign.thin_log(text, every=20).decode().splitlines()]
    steps = [r["step"] for r in kept]
    assert steps == [20, 40, 50, 60, 80, 100, 120, 140, 150]
    assert campaign.minutes(kept) == campaign.minutes(recs) == (100 + 50) / 60
    assert campaign.thin_log("") == b""
