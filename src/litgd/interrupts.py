"""Ctrl-C and pre-emption: stop at a step boundary, with a checkpoint that resumes bit-exact."""

import os
import signal
from pathlib import Path

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from litgd.callbacks import skip_empty_per_step_hooks


class SignalGuard(L.Callback):
    """SIGINT and SIGTERM end ``fit`` once the current step is done, and leave ``interrupted.ckpt``.

    Lightning already stops at the end of a step on SIGTERM (a scheduler's pre-emption): its handler sets a
    flag and the loop raises ``SIGTERMException`` once the step is complete. Ctrl-C is turned into that same
    SIGTERM rather than a KeyboardInterrupt, which could land between the updates of two weights. A signal
    that came before Lightning's handler was installed is acted on when training starts. As a callback it
    has no per-step hooks, so it costs nothing until a signal arrives.
    """

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self.trainer: L.Trainer | None = None
        self._previous: dict[int, object] = {}
        skip_empty_per_step_hooks(self)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.signum is not None:  # arrived during start-up, when Lightning was not listening yet
            raise SIGTERMException

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous.setdefault(signum, signal.signal(signum, self._on_signal))

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:  # a second Ctrl-C: stop waiting, now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum
        if signum == signal.SIGINT:
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler, chained with ours once fit starts

    def checkpoint(self) -> Path | None:
        """Saves the interrupted run; None if there is nothing to save or nowhere to save it."""
        trainer = self.trainer
        callback = trainer.checkpoint_callback if trainer is not None else None
        if callback is None or callback.dirpath is None or trainer.state.fn != TrainerFn.FITTING:
            return None
        path = Path(callback.dirpath) / "interrupted.ckpt"
        trainer.save_checkpoint(path)
        return path
