"""Precision flags change the arithmetic, never the algorithm: each is checked against a reference."""

import pytest
import torch
from conftest import load_checkpoint, read_events
from lightning import Trainer
from lightning.pytorch.plugins import MixedPrecision

from litgd.data import SeedDataModule
from litgd.system import GradientDescent

STEPS = ["--model.stop_below", "null", "--trainer.max_steps", "200"]


def notebook_loop(steps: int, dtype: torch.dtype, seed: int = 42) -> dict[str, torch.Tensor]:
    """The seed notebook's loop, written out plainly, on the template's data and initial weights."""
    torch.manual_seed(seed)  # what --seed_everything does before the model draws its weights
    w1, w2 = torch.randn(1000, 100).to(dtype), torch.randn(100, 10).to(dtype)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 1000, generator=g).to(dtype), torch.randn(64, 10, generator=g).to(dtype)
    w1.requires_grad_(), w2.requires_grad_()
    for _ in range(steps):
        error = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        error.backward()
        with torch.no_grad():
            w1 -= 1e-6 * w1.grad
            w2 -= 1e-6 * w2.grad
        w1.grad.zero_(), w2.grad.zero_()
    return {"net.w1": w1.detach(), "net.w2": w2.detach()}


def test_64_true_follows_a_float64_reference(fit):
    state = load_checkpoint(fit("random_relu.yaml", "--trainer.precision", "64-true", *STEPS))["state_dict"]
    for name, expected in notebook_loop(200, torch.float64).items():
        assert state[name].dtype == torch.float64
        assert ((state[name] - expected).norm() / expected.norm()).item() < 1e-10


def test_bf16_mixed_on_cpu_cuts_the_loss_by_four_orders(fit):
    run = fit("random_relu.yaml", "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "300")
    with torch.no_grad():
        torch.manual_seed(42)
        w1, w2 = torch.randn(1000, 100), torch.randn(100, 10)
        g = torch.Generator().manual_seed(42)
        x, y = torch.randn(64, 1000, generator=g), torch.randn(64, 10, generator=g)
        initial = (x.mm(w1).relu().mm(w2) - y).pow(2).sum().item()
    assert read_events(run).Scalars("train/loss")[-1].value < initial / 1e4


def fp16_trainer(tmp_path, init_scale: float) -> Trainer:
    """16-mixed with a real GradScaler. Lightning's `precision="16-mixed"` flag becomes bf16 on CPU, so
    the plugin is built by hand here to exercise the scaled path that GPUs take."""
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    return Trainer(
        plugins=[plugin], max_steps=1, default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip


def tiny_system(seed: int = 0) -> tuple[GradientDescent, SeedDataModule]:
    torch.manual_seed(seed)
    model = GradientDescent(input_dim=8, output_dim=3, hidden_dim=4, lr=1e-3, stop_below=None)
    return model, SeedDataModule(num_samples=16, input_dim=8, output_dim=3, seed=seed)


def test_16_mixed_unscales_gradients_before_the_update(tmp_path):
    reference, data = tiny_system()
    Trainer(max_steps=1, default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0).fit(reference, data)  # fmt: skip
    model, data = tiny_system()
    start = {k: v.clone() for k, v in model.net.state_dict().items()}
    fp16_trainer(tmp_path, init_scale=8.0).fit(model, data)
    for name, before in start.items():
        update, expected = before - model.net.state_dict()[name], before - reference.net.state_dict()[name]
        # fp16 arithmetic differs from fp32 by ~1e-3; a still-scaled update would be 8 times too large.
        assert ((update - expected).norm() / expected.norm()).item() < 2e-2


def test_16_mixed_skips_an_overflowing_step(tmp_path):
    model, data = tiny_system()
    start = {k: v.clone() for k, v in model.net.state_dict().items()}
    trainer = fp16_trainer(tmp_path, init_scale=2.0**40)  # the scaled fp16 gradients overflow to inf
    trainer.fit(model, data)
    assert all(torch.equal(start[k], v) for k, v in model.net.state_dict().items())
    assert trainer.precision_plugin.scaler.get_scale() < 2.0**40  # and the scaler backed off


@pytest.mark.parametrize("precision", ["32-true", "16-mixed", "bf16-mixed", "64-true"])
def test_every_precision_flag_trains(fit, precision):
    run = fit("regression.yaml", "--trainer.precision", precision, "--trainer.max_steps", "100")
    assert load_checkpoint(run)["global_step"] == 100
    assert read_events(run).Scalars("train/loss")[-1].value < 0.05


def test_checking_the_threshold_every_k_steps_stops_with_the_same_weights(fit):
    """The accelerator path (decide on the device, read every k steps) run on CPU against the per-step one."""
    every_step = fit("random_relu.yaml")
    every_k = fit("random_relu.yaml", "--model.check_every", "64")
    last, last_k = read_events(every_step).Scalars("train/loss")[-1], read_events(every_k).Scalars("train/loss")[-1]
    assert last_k.value == last.value < 1e-6  # the loss of the first step below the threshold
    assert last.step < last_k.step < last.step + 64  # noticed at the next check
    weights, weights_k = load_checkpoint(every_step)["state_dict"], load_checkpoint(every_k)["state_dict"]
    assert all(torch.equal(weights[k], weights_k[k]) for k in weights)
