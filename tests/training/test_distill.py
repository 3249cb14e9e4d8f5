"""Teacher distillation: the term, its gradient, feature mode, and the train / compress options."""
import json

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_model
from edgesr.cli import main
from edgesr.training.distill import Distiller, load_teacher
from edgesr.errors import ConfigError
from edgesr.models import create_model, load_model, save_model
from edgesr.training import TrainConfig, TrainStep, train

SETTINGS = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, seed=4, progress=False,
                model_kwargs={"n_feats": 8, "n_blocks": 2}, ckpt_every=100)


def _grads(step, lr, hr):
    step.zero_grad(set_to_none=True)
    total, primal, dual, d = step(lr, hr)
    total.backward()
    return {k: p.grad.clone() for k, p in step.model.named_parameters() if p.grad is not None}, total, d


def test_output_distillation_adds_the_teacher_l1_and_changes_the_gradient():
    student, teacher = tiny_model("edge", 2, seed=0).train(), tiny_model("edge", 2, seed=1)
    teacher.requires_grad_(False)
    lr, hr = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 24, 24)
    g0, t0, d0 = _grads(TrainStep(student, 0.1), lr, hr)
    dist = Distiller(teacher, student, "output", weight=0.5)
    g1, t1, d1 = _grads(TrainStep(student, 0.1, dist), lr, hr)
    with torch.no_grad():
        want = F.l1_loss(student(lr), teacher(lr))
    assert d0 == 0 and torch.allclose(d1, want) and torch.allclose(t1, t0 + 0.5 * want)
    assert any(not torch.allclose(g0[k], g1[k]) for k in g0)
    assert all(p.grad is None for p in teacher.parameters()) and not teacher.training
    ids = {id(p) for p in TrainStep(student, 0.1, dist).parameters()}
    assert ids.isdisjoint(id(p) for p in teacher.parameters())  # outside the module tree (DDP, optimizer)
    with pytest.raises(ConfigError, match="same scale"):
        Distiller(tiny_model("edge", 3), student)


def test_feature_distillation_compares_body_outputs():
    student = tiny_model("edge", 2)  # n_feats 8
    teacher = create_model("edge_tiny", scale=2, n_blocks=1).eval()  # n_feats 16: needs the 1x1 adapter
    dist = Distiller(teacher, student, "feature")
    assert isinstance(dist.adapter, torch.nn.Conv2d) and dist.adapter.weight.shape == (16, 8, 1, 1)
    lr = torch.rand(1, 3, 10, 10)

    def body(m, x):
        f = m.head_act(m.head(x))
        for b in m.blocks:
            f = b(f)
        return f

    with dist.capture(student) as feats:
        out = student(lr)
    with torch.no_grad():
        want = F.mse_loss(dist.adapter(body(student, lr)), body(teacher, lr))
        assert torch.allclose(dist(lr, out, feats), want)
    assert not student.tail._forward_pre_hooks  # the capture hook is removed
    same = Distiller(tiny_model("edge", 2, seed=3), student, "feature")
    assert isinstance(same.adapter, torch.nn.Identity)
    with pytest.raises(ConfigError, match="only EdgeSR models"):
        Distiller(tiny_model("drn", 4), tiny_model("edge", 4), "feature")


def test_train_with_a_teacher_logs_the_distill_term(tmp_path, image_folder):
    torch.manual_seed(7)
    t = save_model(create_model("edge_tiny", scale=2, n_feats=12, n_blocks=1), tmp_path / "teacher.pt")
    out = tmp_path / "d"
    final = train(TrainConfig(data=(str(image_folder),), out=str(out), steps=3, teacher=str(t), distill="feature",
                              teacher_weight=0.5, **SETTINGS))
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["distill"] > 0 for r in recs)
    assert recs[0]["loss"] == pytest.approx(recs[0]["primal"] + 0.1 * recs[0]["dual"] + 0.5 * recs[0]["distill"],
                                            rel=1e-5)
    st = torch.load(out / "last.pt", weights_only=True)
    assert st["distill"]["adapter.weight"].shape == (12, 8, 1, 1)  # the adapter is trained and checkpointed
    assert "adapter.weight" not in torch.load(final, weights_only=True)["state_dict"]
    assert load_model(final).meta["teacher"] == {"model": str(t), "weight": 0.5, "distill": "feature"}
    plain = tmp_path / "p"
    train(TrainConfig(data=(str(image_folder),), out=str(plain), steps=1, **SETTINGS))
    assert "distill" not in json.loads((plain / "log.jsonl").read_text().splitlines()[0])


def test_bundled_teacher_by_name():
    teacher = load_teacher("edge_nano_x2", torch.device("cpu"))
    assert teacher.name.startswith("edge") and teacher.scale == 2 and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())


def test_cli_train_and_compress_pass_the_teacher(tmp_path, image_folder):
    torch.manual_seed(0)
    src = save_model(create_model("edge_tiny", scale=2, n_feats=8, n_blocks=2), tmp_path / "src.pt")
    args = ["--data", str(image_folder), "--batch", "2", "--patch", "16", "--no-progress"]
    out = tmp_path / "t"
    assert main(["train", "--model", str(src), "--out", str(out), "--steps", "2", "--teacher", str(src),
                 "--teacher-weight", "0.25", "--distill", "output", *args]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["teacher"], cfg["teacher_weight"], cfg["distill"]) == (str(src), 0.25, "output")
    # compress: search and prune done (their outputs in place), run the fine-tune stage with the teacher
    work = tmp_path / "w"
    (work / "search").mkdir(parents=True)
    (work / "search" / "channels.json").write_text(json.dumps({"channels": [4, 4]}))
    (work / "prune").mkdir()
    save_model(create_model("edge_tiny", scale=2, n_feats=8, n_blocks=2, channels=(4, 4)), work / "prune" / "pruned.pt")
    assert main(["compress", str(src), "-o", str(tmp_path / "small.pt"), "--work-dir", str(work), "--stage",
                 "finetune", "--finetune-steps", "2", "--teacher", str(src), "--teacher-weight", "2",
                 "--no-latency", *args]) == 0
    ft = work / "finetune"
    cfg = json.loads((ft / "config.json").read_text())
    assert (cfg["teacher"], cfg["teacher_weight"]) == (str(src), 2.0)
    assert all("distill" in json.loads(line) for line in (ft / "log.jsonl").read_text().splitlines())
