"""Callbacks the CLI always adds: histograms at their own cadence, and a clean exit on signals or divergence."""

import signal
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger


class Histograms(L.Callback):
    """``weights/<param>``, ``grads/<param>`` and ``train/squared_error`` (the notebook's "error
    distribution", one value per sample) every ``every_n_steps`` steps. A histogram of a 100k-weight
    matrix costs milliseconds, so not every step."""

    def __init__(self, every_n_steps: int = 1000) -> None:
        self.every_n_steps = every_n_steps

    def _writer(self, trainer: L.Trainer):
        due = self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0
        tb = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        return tb.experiment if due and tb is not None and trainer.is_global_zero else None

    @torch.no_grad()
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if (writer := self._writer(trainer)) is None:
            return
        for name, param in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", param, trainer.global_step)
        x, y = batch
        writer.add_histogram("train/squared_error", (pl_module(x) - y).pow(2).sum(dim=1), trainer.global_step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if (writer := self._writer(trainer)) is None:
            return
        # Under 16-mixed, an optimizer that unscales in its own step still holds scaled gradients here.
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        unscale = scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False)
        for name, param in pl_module.named_parameters():
            if param.grad is not None:
                grad = param.grad / scaler.get_scale() if unscale else param.grad
                writer.add_histogram(f"grads/{name}", grad, trainer.global_step)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a resumable checkpoint was written at a step boundary."""

    def __init__(self, signum: int, ckpt_path: str | None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.ckpt_path = signum, ckpt_path


class GracefulExit(L.Callback):
    """Turns SIGINT/SIGTERM into a checkpoint at the next step boundary, then stops the run.

    A signal only sets a flag: acting at the end of a step means the checkpoint's weights and step
    counter always agree, and resuming from it is bit-exact.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, self._note)
            self._previous.setdefault(signum, previous)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _note(self, signum: int, frame) -> None:
        self.signum = signum

    def on_fit_start(self, trainer, pl_module) -> None:
        self.install()  # Lightning registers its own SIGTERM handler when fit starts; ours takes over

    def on_train_start(self, trainer, pl_module) -> None:
        self.on_train_batch_end(trainer, pl_module)  # a signal during start-up: checkpoint before any step

    def on_train_batch_end(self, trainer, pl_module, *_) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum, self._save(trainer, "interrupted.ckpt"))

    @staticmethod
    def _save(trainer: L.Trainer, filename: str) -> str | None:
        dirpath = trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else None
        if dirpath is None:
            return None
        path = str(Path(dirpath) / filename)
        trainer.save_checkpoint(path)
        return path
