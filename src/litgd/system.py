"""The training system: loss, the plain gradient-descent update, stopping and logging around a network.

Run it with ``litgd fit --config configs/random_relu.yaml`` (see README.md).
"""

import math
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveInt, restricted_number_type
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection, R2Score, SumMetric

from litgd.nets import LinearRegression, TwoLayerReLU
from litgd.optim import PlainGradientDescent
from litgd.plots import regression_figure, save_loss_curve
from litgd.stopping import StopRule
from litgd.tensorboard import add_histogram, writers

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
        self.divergence_message: str | None = None  # set when the loss became non-finite; the CLI exits with it
        self._resumed_stop_state: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        step, opt = self.global_step, self.optimizers()
        squared_error = (self.net(x) - y).pow(2)  # (N, D_out)
        loss = self._shard_loss(squared_error)  # no opt.zero_grad(): the plain update releases the gradients
        # DDP averages gradients over processes; scaling by the world size makes it the full-batch gradient.
        self.manual_backward(loss * self._world if self._world > 1 else loss)
        full = (
            self.trainer.strategy.reduce(loss.detach().clone(), reduce_op="sum") if self._world > 1 else loss.detach()
        )
        if self._histogram_every and step % self._histogram_every == 0:
            self._histograms("weights", self.net.named_parameters())
            add_histogram(self.loggers, "train/squared_error", squared_error.sum(dim=1), step)  # one per sample
            self._grads_due = True  # for on_before_optimizer_step, called inside the update
        last = step + 1 >= self._max_steps > 0
        self.stop_rule.step(opt, full, step, last)
        if self.stop_rule.stopped or last:
            self.trainer.should_stop = True  # also at max_steps, so that the final step is logged
        # Log at the logger's cadence only: a `self.log` call costs about as much as a seed-sized step.
        if (self._log_every and (step + 1) % self._log_every == 0) or self.trainer.should_stop:
            logged = self.stop_rule.stop_loss if self.stop_rule.stopped else full
            self.log("train/loss", logged, prog_bar=True)
            self._loss_curve.append((step, logged))  # read at the end: no sync here

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.net(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return PlainGradientDescent(self.parameters(), lr=self.hparams.lr)

    def on_train_start(self) -> None:
        # Per-step code reads these plain attributes: a Lightning property lookup costs about a microsecond,
        # and the whole template must cost under 5% of a seed-sized step over Lightning's own floor.
        trainer = self.trainer
        check_every = self.hparams.check_every or (1 if self.device.type == "cpu" else 50)
        self.stop_rule = StopRule(self.hparams.stop_below, check_every, self.device)
        if self._resumed_stop_state is not None:
            self.stop_rule.load_state_dict(self._resumed_stop_state)
        self._denominator: float | None = None  # of the mean loss, counted at the first step
        self._world, self._log_every, self._max_steps = trainer.world_size, trainer.log_every_n_steps, trainer.max_steps
        self._histogram_every = self.hparams.histogram_every_n_steps if trainer.is_global_zero else 0
        self._summed = self.hparams.loss == "sum"
        self._loss_curve: list[tuple[int, torch.Tensor]] = []
        self._grads_due = False

    def on_before_optimizer_step(self, optimizer) -> None:
        if not self._grads_due:
            return
        self._grads_due = False
        # Under 16-mixed our optimizer unscales inside its step, so the gradients here are still scaled.
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        scale = scaler.get_scale() if scaler is not None else 1.0
        self._histograms("grads", ((n, p.grad / scale) for n, p in self.net.named_parameters() if p.grad is not None))

    def on_train_end(self) -> None:
        """Reads a pending stop; draws the loss curve as a PNG next to the checkpoints and, for y = a + b·x,
        the fit in TensorBoard."""
        self.stop_rule.finish()
        if self.stop_rule.divergence is not None:
            step, loss = self.stop_rule.divergence
            self.divergence_message = (
                f"training diverged at step {step}: the loss is {loss}. The update was skipped, so the weights and "
                f"last.ckpt keep their last finite state. Lower the learning rate (now --model.lr {self.hparams.lr:g})."
            )
        if not self.trainer.is_global_zero:
            return
        checkpoints = self.trainer.checkpoint_callback.dirpath if self.trainer.checkpoint_callback else None
        if checkpoints and self._loss_curve:
            steps, losses = zip(*[(step, float(loss)) for step, loss in self._loss_curve], strict=True)
            Path(checkpoints).mkdir(parents=True, exist_ok=True)
            save_loss_curve(steps, losses, Path(checkpoints) / "loss_curve.png")
        if isinstance(self.net, LinearRegression) and self.hparams.input_dim == self.hparams.output_dim == 1:
            x, y = next(iter(self.trainer.train_dataloader))
            fitted = (self.net.linear.bias.item(), self.net.linear.weight.item())
            figure = regression_figure(x, y, fitted, getattr(self.trainer.datamodule, "true_line", None))
            for writer in writers(self.loggers):
                writer.add_figure("fit/regression", figure, self.global_step)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Never leave non-finite weights on disk looking like a good checkpoint.
        if not _all_finite(self.net.state_dict()):
            raise Diverged("refusing to save a checkpoint with non-finite weights")
        if hasattr(self, "stop_rule"):  # a resumed run must know whether this one had already stopped
            checkpoint["stop_rule"] = self.stop_rule.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resumed_stop_state = checkpoint.get("stop_rule")

    def _histograms(self, prefix: str, named_tensors) -> None:
        for name, tensor in named_tensors:
            add_histogram(self.loggers, f"{prefix}/{name}", tensor, self.global_step)

    def _shard_loss(self, squared_error: torch.Tensor) -> torch.Tensor:
        """This process's share of the full-batch loss; the shares sum to the loss of the whole batch."""
        sse = squared_error.sum()
        if self._summed:
            return sse
        if self._denominator is None:  # one collective per fit: the number of targets over all processes
            count = torch.tensor(float(squared_error.numel()), device=squared_error.device)
            self._denominator = float(self.trainer.strategy.reduce(count, reduce_op="sum"))
        return sse / self._denominator

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        pred = self.net(x)
        metrics, sse = self.metrics[stage], self.sse[stage]
        metrics.update(pred, y)
        sse.update((pred - y).pow(2).sum())  # torchmetrics sums it over processes too
        self.log_dict(metrics)
        self.log(f"{stage}/loss", sse if self.hparams.loss == "sum" else metrics[f"{stage}/mse"])
