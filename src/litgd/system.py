"""The training system: loss, the plain gradient-descent update, stopping and logging around a network.

Run it with ``litgd fit --config configs/random_relu.yaml`` (see README.md).
"""

import math
from typing import Literal

import lightning as L
import torch
from jsonargparse.typing import NonNegativeFloat, PositiveInt, restricted_number_type
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection, R2Score, SumMetric

from litgd.nets import LinearRegression, TwoLayerReLU

FinitePositiveFloat = restricted_number_type("FinitePositiveFloat", float, [(">", 0), ("<", math.inf)])


class Diverged(RuntimeError):
    """The training loss became non-finite; the weights were left at their last finite state."""


def _all_finite(state: dict) -> bool:
    return all(t.isfinite().all() for t in state.values() if torch.is_tensor(t) and t.is_floating_point())


class PlainGradientDescent(torch.optim.Optimizer):
    """The notebook's update ``w ← w − lr·∇w``, and nothing else, as an optimizer.

    Stepping it through ``self.optimizers()`` lets Lightning count steps (``max_steps``, checkpoints) and,
    under 16-bit mixed precision, have the gradient scaler unscale gradients and skip overflowing steps.
    """

    # With this flag a GradScaler hands the step `found_inf` and `grad_scale` as device tensors instead of
    # reading `found_inf` on the host, so an overflowing step is skipped without a host-device sync.
    _step_supports_amp_scaling = True

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None, keep: torch.Tensor | None = None):
        """``keep`` (a 0-dim bool on the device) turns the update into a no-op without a host sync."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        found_inf, grad_scale = getattr(self, "found_inf", None), getattr(self, "grad_scale", None)
        if found_inf is not None:
            keep = found_inf == 0 if keep is None else keep & (found_inf == 0)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if grad_scale is None else p.grad.div_(grad_scale)  # a power of two: exact
                update = grad.mul_(group["lr"])  # in place: the same rounding as the seed's `w -= lr * grad`
                p.sub_(update if keep is None else torch.where(keep, update, 0.0))
        return loss


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
        x, y = batch
        step, opt = self.global_step, self.optimizers()
        loss = self._shard_loss(self.net(x), y)
        opt.zero_grad()
        # DDP averages gradients over processes; scaling by the world size makes it the full-batch gradient.
        self.manual_backward(loss * self.trainer.world_size)
        full = self.trainer.strategy.reduce(loss.detach().clone(), reduce_op="sum")  # the whole batch's loss
        if self._check_every == 1:
            self._stop_on_host(opt, full, step)
        else:
            self._stop_on_device(opt, full, step)
        if self.global_step >= self.trainer.max_steps > 0:
            self.trainer.should_stop = True  # so the final step is logged, as the threshold's stop is
        # Log at the logger's cadence only: each self.log call costs about as much as a small step.
        if (step + 1) % self.trainer.log_every_n_steps == 0 or self.trainer.should_stop:
            stopped_early = self.trainer.should_stop and not self.active  # a read only when stopping
            self.log("train/loss", self.stop_loss if stopped_early else full, prog_bar=True)
        return full

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

    def _shard_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """This process's share of the full-batch loss; the shares sum to the loss of the whole batch."""
        sse = (pred - target).pow(2).sum()
        if self.hparams.loss == "sum":
            return sse
        if self._denominator is None:  # one collective per fit: the number of targets over all processes
            count = torch.tensor(float(target.numel()), device=target.device)
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
