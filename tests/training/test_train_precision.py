"""Training precision: bf16 autocast on CPU, fp16 refused there, 'auto' from the CPU flags, channels_last."""
import json

import pytest
import torch

from edgesr.errors import ConfigError
from edgesr.models import load_model
from edgesr.training.amp import Amp, TrainPrecision, cpu_flags, cpu_has_bf16, cpu_model_name, resolve_precision
from edgesr.training import TrainConfig, TrainStep, train

SETTINGS = dict(model="edge_tiny", scale=2, batch=4, patch=16, lr=1e-3, seed=2, progress=False,
                model_kwargs={"n_feats": 8, "n_blocks": 2}, ckpt_every=100)

ZEN4 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n"
        "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n\nprocessor\t: 1\n")
SKYLAKE = "model name\t: Intel(R) Xeon(R) Gold 6148\nflags\t\t: fpu sse2 avx2 avx512f\n"
SAPPHIRE = "model name\t: Intel(R) Xeon(R) Platinum 8480\nflags\t\t: avx2 avx512f amx_tile amx_bf16\n"
CPU = torch.device("cpu")


def test_auto_reads_the_cpu_flags():
    assert cpu_model_name(ZEN4) == "AMD EPYC 9R14" and "avx512_vnni" in cpu_flags(ZEN4)
    assert cpu_has_bf16(ZEN4) and cpu_has_bf16(SAPPHIRE) and not cpu_has_bf16(SKYLAKE) and not cpu_has_bf16("")
    assert resolve_precision("auto", CPU, ZEN4) is TrainPrecision.BF16
    assert resolve_precision("auto", CPU, SAPPHIRE) is TrainPrecision.BF16
    assert resolve_precision("auto", CPU, SKYLAKE) is TrainPrecision.FP32
    assert resolve_precision("bf16", CPU, SKYLAKE) is TrainPrecision.BF16  # allowed (emulated), with a warning
    assert resolve_precision("FP32", CPU, ZEN4) is TrainPrecision.FP32


def test_fp16_on_cpu_and_unknown_precisions_are_refused(tmp_path, image_folder):
    with pytest.raises(ConfigError, match="fp16 training needs a CUDA GPU"):
        resolve_precision("fp16", CPU, ZEN4)
    with pytest.raises(ConfigError, match="unknown training precision 'int8'"):
        TrainConfig(data=("x",), precision="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16 training needs a CUDA GPU"):
            train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "f"), steps=2, precision="fp16",
                              **SETTINGS))
        assert not (tmp_path / "f").exists()  # refused before anything is written


def _losses(out):
    return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_bf16_training_lowers_the_loss_and_is_recorded(tmp_path, image_folder):
    out = tmp_path / "bf"
    final = train(TrainConfig(data=(str(image_folder),), out=str(out), steps=30, precision="bf16", **SETTINGS))
    losses = _losses(out)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    assert json.loads((out / "config.json").read_text())["run"]["precision"] == "bf16"
    assert load_model(final).meta["precision"] == "bf16"
    ref = tmp_path / "fp"
    train(TrainConfig(data=(str(image_folder),), out=str(ref), steps=3, **SETTINGS))
    assert losses[0] != _losses(ref)[0]  # the forward really ran in bf16
    assert losses[0] == pytest.approx(_losses(ref)[0], rel=2e-2)


def test_channels_last_trains_the_same_model(tmp_path, image_folder, monkeypatch):
    seen = []
    orig = TrainStep.forward

    def forward(self, lr, *rest):
        seen.append(lr.is_contiguous(memory_format=torch.channels_last) and self.model.head.weight.is_contiguous(
            memory_format=torch.channels_last))
        return orig(self, lr, *rest)

    monkeypatch.setattr(TrainStep, "forward", forward)
    a = train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "cl"), steps=4, channels_last=True, **SETTINGS))
    assert seen and all(seen)
    b = train(TrainConfig(data=(str(image_folder),), out=str(tmp_path / "nc"), steps=4, **SETTINGS))
    assert not any(seen[4:])
    wa, wb = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b))
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5), k


def test_fp16_loss_scaling_step_and_state(edge_x2):
    """The GradScaler path (what CUDA fp16 uses), run on the CPU device: scaled backward, unscaled step."""
    amp = Amp(TrainPrecision.FP16, CPU)
    opt = torch.optim.SGD(edge_x2.parameters(), lr=0.1)
    w0 = edge_x2.head.weight.detach().clone()
    x = torch.rand(2, 3, 12, 12)
    with amp.autocast():
        y = edge_x2(x)
        loss = (y.float() - x.repeat_interleave(2, 2).repeat_interleave(2, 3)).abs().mean()
        assert edge_x2.head(x).dtype == torch.float16
    amp.backward_step(loss, opt)
    assert not torch.equal(edge_x2.head.weight, w0) and torch.isfinite(edge_x2.head.weight).all()
    st = amp.state_dict()
    again = Amp(TrainPrecision.FP16, CPU)
    again.load_state_dict(st)
    assert again.state_dict() == st and st["scale"] > 1
    assert Amp(TrainPrecision.FP32, CPU).scaler is None and Amp(TrainPrecision.BF16, CPU).scaler is None
