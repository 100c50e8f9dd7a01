"""On a CUDA device: every precision trains, and steady-state steps never synchronise with the host.

Skipped without CUDA; scripts/gpu_check.sh runs these on a GPU machine.
"""

import lightning as L
import pytest
import torch
import yaml
from conftest import load_checkpoint, read_events

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = ["--trainer.accelerator", "cuda", "--trainer.devices", "1"]


class NoSyncInQuietSteps(L.Callback):
    """Makes any host-device sync raise during steps with nothing due: no log or stop check (every 50
    steps, the defaults), no histogram, not the first step (lazy initialisation)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        quiet = step > 0 and (step + 1) % 50 != 0 and step % pl_module.hparams.histogram_every_n_steps != 0
        torch.cuda.set_sync_debug_mode("error" if quiet else "default")

    def on_train_batch_end(self, trainer, *_) -> None:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize(("precision", "below"), [("32-true", 1e-2), ("bf16-mixed", 1e4), ("16-mixed", 1e2)])
def test_fit_on_cuda_without_syncs_in_steady_state(fit, tmp_path, precision, below):
    overlay = tmp_path / "sync.yaml"
    callback = {"class_path": f"{__name__}.NoSyncInQuietSteps"}
    overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": [callback]}}))
    run = fit(
        "random_relu.yaml", *CUDA, "--trainer.precision", precision, "--trainer.max_steps", "400",
        "--config", str(overlay),
    )  # fmt: skip
    assert load_checkpoint(run)["global_step"] == 400
    assert read_events(run).Scalars("train/loss")[-1].value < below  # from about 2e7 at the start


def test_threshold_stop_on_cuda_matches_the_first_step_below(fit):
    """Read every 50 steps (the GPU default), the stop leaves the weights of reading every step."""
    every_k, every_step = fit("random_relu.yaml", *CUDA), fit("random_relu.yaml", *CUDA, "--model.check_every", "1")
    last_k, last = read_events(every_k).Scalars("train/loss")[-1], read_events(every_step).Scalars("train/loss")[-1]
    assert last_k.value == last.value < 1e-6
    weights_k, weights = load_checkpoint(every_k)["state_dict"], load_checkpoint(every_step)["state_dict"]
    assert all(torch.equal(weights_k[k], weights[k]) for k in weights)
