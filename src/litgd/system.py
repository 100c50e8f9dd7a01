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


class PlainGradientDescent(torch.optim.Optimizer):
    """The notebook's update ``w ← w − lr·∇w``, and nothing else, as an optimizer.

    Stepping it through ``self.optimizers()`` lets Lightning count steps (``max_steps``, checkpoints) and,
    under 16-bit mixed precision, unscale gradients and skip overflowing steps first.
    """

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None, keep: torch.Tensor | None = None):
        """``keep`` (a 0-dim bool on the device) turns the update into a no-op without a host sync."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad.mul_(group["lr"])  # in place: the same rounding as the seed's `w -= lr * grad`
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
        # Device-side stop state, read only every `check_every` steps; saved with the checkpoint.
        self.register_buffer("active", torch.tensor(True))
        self.register_buffer("finite", torch.tensor(True))
        self.register_buffer("stop_loss", torch.tensor(math.nan))
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
            self._step_and_check_on_host(opt, full)
        else:
            self._step_and_check_on_device(opt, full)
        if self.global_step >= self.trainer.max_steps > 0:
            self.trainer.should_stop = True  # so the final step is logged, as the threshold's stop is
        # Log at the logger's cadence only: each self.log call costs about as much as a small step.
        if (step + 1) % self.trainer.log_every_n_steps == 0 or self.trainer.should_stop:
            stopped_below = self.trainer.should_stop and not self.active  # a read only when stopping
            self.log("train/loss", self.stop_loss if stopped_below else full, prog_bar=True)
        return full

    def _step_and_check_on_host(self, opt, full: torch.Tensor) -> None:
        """CPU: reading the loss costs nothing, so act on it at once, exactly as the notebook's loop."""
        value = full.item()
        if not math.isfinite(value):
            self.finite.fill_(False)
            raise Diverged(self._divergence_message(value))
        opt.step()
        if self.hparams.stop_below is not None and value < self.hparams.stop_below:
            self.active.fill_(False)
            self.stop_loss.fill_(value)
            self.trainer.should_stop = True
        if self.global_step >= self.trainer.max_steps > 0:
            self.trainer.should_stop = True

    def _step_and_check_on_device(self, opt, full: torch.Tensor) -> None:
        """Accelerators: decide on the device and read the decision every `check_every` steps only.

        After the first step below the threshold (or a non-finite loss) the update becomes a no-op, so
        stopping up to `check_every - 1` steps later leaves the same weights as stopping at once.
        """
        finite = torch.isfinite(full)
        opt.step(keep=self.active & finite)
        below = full < self.hparams.stop_below if self.hparams.stop_below is not None else torch.zeros_like(finite)
        hit = self.active & finite & below
        self.stop_loss.copy_(torch.where(hit, full, self.stop_loss))
        self.finite &= finite
        self.active &= finite & ~hit
        if self.global_step % self._check_every == 0 or self.global_step >= self.trainer.max_steps > 0:
            if not self.finite.item():
                raise Diverged(self._divergence_message(math.nan))
            self.trainer.should_stop = self.trainer.should_stop or not self.active.item()

    def _divergence_message(self, value: float) -> str:
        return (
            f"training diverged at step {self.global_step}: the loss is {value}. The weights were kept at their "
            f"last finite state. Lower the learning rate (now --model.lr {self.hparams.lr:g})."
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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return PlainGradientDescent(self.parameters(), lr=self.hparams.lr)
