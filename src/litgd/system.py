"""The training system: loss, the plain gradient-descent update, stopping and logging around a network.

Run it with ``litgd fit --config configs/random_relu.yaml`` (see README.md).
"""

import math
from typing import Literal

import lightning as L
import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveInt, restricted_number_type
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection, R2Score, SumMetric

from litgd.nets import LinearRegression, TwoLayerReLU
from litgd.optim import PlainGradientDescent

FinitePositiveFloat = restricted_number_type("FinitePositiveFloat", float, [(">", 0), ("<", math.inf)])


class Diverged(RuntimeError):
    """The training loss became non-finite; the weights were left at their last finite state."""


def _all_finite(state: dict) -> bool:
    return all(t.isfinite().all() for t in state.values() if torch.is_tensor(t) and t.is_floating_point())


class GradientDescent(L.LightningModule):
    """Full-batch plain gradient descent with manual optimization, stopping below a loss threshold.

    ``input_dim`` and ``output_dim`` come from the data module, which checks them (the CLI links them).
    """

    def __init__(
        self,
        input_dim: int = 1000,
        output_dim: int = 10,
        arch: Literal["relu", "linear"] = "relu",
        hidden_dim: PositiveInt = 100,
        lr: FinitePositiveFloat = 1e-6,
        loss: Literal["sum", "mean"] = "sum",
        stop_below: NonNegativeFloat | None = 1e-6,
        check_every: PositiveInt | None = None,
        histogram_every_n_steps: NonNegativeInt = 1000,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        if arch == "relu":
            self.net = TwoLayerReLU(input_dim, hidden_dim, output_dim)
        else:
            self.net = LinearRegression(input_dim, output_dim)
        metrics = MetricCollection({"mse": MeanSquaredError(), "r2": R2Score()})
        self.metrics = nn.ModuleDict({stage: metrics.clone(prefix=f"{stage}/") for stage in ("val", "test")})
        self.sse = nn.ModuleDict({stage: SumMetric() for stage in ("val", "test")})
        # Whether, why and where this fit stopped, kept on the device (see `_stop_on_device`).
        self.register_buffer("active", torch.tensor(True), persistent=False)
        self.register_buffer("stop_loss", torch.tensor(math.nan), persistent=False)
        self.register_buffer("diverged_at", torch.tensor(-1), persistent=False)
        self.divergence: str | None = None  # set when the loss became non-finite; the CLI exits with it
        self._denominator: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        # Every line here runs every step, so per-step work is only what the update needs; logging and
        # histograms happen at their cadence (a `self.log` call costs about as much as a seed-sized step).
        x, y = batch
        step, opt, trainer = self.global_step, self.optimizers(), self.trainer
        squared_error = (self.net(x) - y).pow(2)  # (N, D_out)
        loss = self._shard_loss(squared_error)
        opt.zero_grad()
        # DDP averages gradients over processes; scaling by the world size makes it the full-batch gradient.
        world = trainer.world_size
        self.manual_backward(loss * world if world > 1 else loss)
        full = trainer.strategy.reduce(loss.detach().clone(), reduce_op="sum") if world > 1 else loss.detach()
        if self._histograms_due(step):
            self._histograms("weights", self.net.named_parameters())
            self._histogram("train/squared_error", squared_error.detach().sum(dim=1))  # one value per sample
        if self._check_every == 1:
            self._stop_on_host(opt, full, step)
        else:
            self._stop_on_device(opt, full, step)
        if step + 1 >= trainer.max_steps > 0:
            trainer.should_stop = True  # so the final step is logged, as the threshold's stop is
        if (step + 1) % trainer.log_every_n_steps == 0 or trainer.should_stop:
            stopped_early = trainer.should_stop and not self.active  # a read only when stopping
            self.log("train/loss", self.stop_loss if stopped_early else full, prog_bar=True)
        return full

    def on_before_optimizer_step(self, optimizer) -> None:
        if not self._histograms_due(self.global_step):
            return
        # Under 16-mixed our optimizer unscales inside its step, so the gradients here are still scaled.
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        scale = scaler.get_scale() if scaler is not None else 1.0
        self._histograms("grads", ((n, p.grad / scale) for n, p in self.net.named_parameters() if p.grad is not None))

    def _histograms_due(self, step: int) -> bool:
        every = self.hparams.histogram_every_n_steps
        return every > 0 and step % every == 0 and self.trainer.is_global_zero

    def _histograms(self, prefix: str, named_tensors) -> None:
        for name, tensor in named_tensors:
            self._histogram(f"{prefix}/{name}", tensor)

    def _histogram(self, tag: str, values: torch.Tensor, bins: int = 64) -> None:
        # Binned with torch, written with TensorBoard's raw API: its own `add_histogram` sums squares with
        # numpy's BLAS, whose idle threads then spin for ~100 steps and slow training by 15% (measured).
        values = values.detach().flatten().double()
        values = values[values.isfinite()]
        if values.numel() == 0:
            return
        low, high = values.min().item(), values.max().item()
        high = high if high > low else low + 1e-12
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):  # other loggers (CSV) have no histograms
                logger.experiment.add_histogram_raw(
                    tag, low, high, values.numel(), values.sum().item(), values.pow(2).sum().item(),
                    torch.linspace(low, high, bins + 1)[1:].tolist(), torch.histc(values, bins, low, high).tolist(),
                    self.global_step,
                )  # fmt: skip

    def _stop_on_host(self, opt, full: torch.Tensor, step: int) -> None:
        """CPU: reading the loss costs nothing, so act on it at once, exactly as the notebook's loop."""
        value = full.item()
        if math.isfinite(value):
            opt.step()
        if not math.isfinite(value) or (self.hparams.stop_below is not None and value < self.hparams.stop_below):
            self.active.fill_(False)
            self.stop_loss.fill_(value)
            self._stop(step if not math.isfinite(value) else None)

    def _stop_on_device(self, opt, full: torch.Tensor, step: int) -> None:
        """Accelerators: decide on the device and read the decision every `check_every` steps only.

        After the first step below the threshold (or with a non-finite loss, whose update is skipped) every
        update is a no-op, so stopping up to `check_every - 1` steps later leaves the same weights.
        """
        finite = torch.isfinite(full)
        opt.step(keep=self.active & finite)
        below = full < self.hparams.stop_below if self.hparams.stop_below is not None else torch.zeros_like(finite)
        stops_now = self.active & (~finite | below)
        self.stop_loss.copy_(torch.where(stops_now, full, self.stop_loss))
        self.diverged_at.copy_(torch.where(self.active & ~finite, step, self.diverged_at))
        self.active &= ~stops_now
        due = (step + 1) % self._check_every == 0 or step + 1 >= self.trainer.max_steps > 0
        if due and not self.active.item():
            diverged_at = int(self.diverged_at)
            self._stop(diverged_at if diverged_at >= 0 else None)

    def _stop(self, diverged_at: int | None) -> None:
        self.trainer.should_stop = True
        if diverged_at is not None:
            self.divergence = (
                f"training diverged at step {diverged_at}: the loss is {self.stop_loss.item()}. The update was "
                f"skipped, so the weights and last.ckpt keep their last finite state. Lower the learning rate "
                f"(now --model.lr {self.hparams.lr:g})."
            )

    def _shard_loss(self, squared_error: torch.Tensor) -> torch.Tensor:
        """This process's share of the full-batch loss; the shares sum to the loss of the whole batch."""
        sse = squared_error.sum()
        if self.hparams.loss == "sum":
            return sse
        if self._denominator is None:  # one collective per fit: the number of targets over all processes
            count = torch.tensor(float(squared_error.numel()), device=squared_error.device)
            self._denominator = float(self.trainer.strategy.reduce(count, reduce_op="sum"))
        return sse / self._denominator

    @property
    def _check_every(self) -> int:
        if self.hparams.check_every is not None:
            return self.hparams.check_every
        return 1 if self.device.type == "cpu" else 50

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        pred = self.net(x)
        metrics, sse = self.metrics[stage], self.sse[stage]
        metrics.update(pred, y)
        sse.update((pred - y).pow(2).sum())  # torchmetrics sums it over processes too
        self.log_dict(metrics)
        self.log(f"{stage}/loss", sse if self.hparams.loss == "sum" else metrics[f"{stage}/mse"])

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.net(batch[0])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Never leave non-finite weights on disk looking like a good checkpoint.
        if not _all_finite(self.net.state_dict()):
            raise Diverged("refusing to save a checkpoint with non-finite weights")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return PlainGradientDescent(self.parameters(), lr=self.hparams.lr)
