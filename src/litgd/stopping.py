"""When full-batch gradient descent stops: at the first loss below a threshold, or at a non-finite loss."""

import math

import torch


class StopRule:
    """Applies or skips each update and decides when to stop, as the notebook's loop does.

    On CPU, reading the loss costs nothing: each step acts at once. On an accelerator a read stalls the
    pipeline, so the decision stays on the device and is read every ``check_every`` steps; after the first
    step below the threshold (or with a non-finite loss, whose update is skipped) every update is a no-op,
    so stopping up to ``check_every - 1`` steps later leaves the same weights as stopping at once. Skipped
    updates still count as steps, so ``max_steps`` and ``min_steps`` keep their meaning.
    """

    def __init__(self, threshold: float | None, check_every: int, device: torch.device) -> None:
        self.threshold, self.check_every = threshold, check_every
        self.active = torch.tensor(True, device=device)  # no step has stopped the run yet
        self.stop_loss = torch.tensor(math.nan, device=device)  # the loss of the step that stopped it
        self.diverged_at = torch.tensor(-1, device=device)
        self.stopped = False
        self.divergence: tuple[int, float] | None = None  # (step, loss) when the loss became non-finite

    def step(self, optimizer, loss: torch.Tensor, step: int, last: bool) -> None:
        """Runs the update for step ``step`` (0-based) with this step's full-batch ``loss``."""
        if self.check_every == 1:
            value = loss.item()
            finite = math.isfinite(value)
            if finite and not self.stopped:
                optimizer.step()
            else:  # skipped, but counted as a step
                optimizer.step(keep=torch.zeros_like(self.active))
            if not self.stopped and (not finite or (self.threshold is not None and value < self.threshold)):
                self.stop_loss.fill_(value)
                self._stop(None if finite else step)
            return
        finite = torch.isfinite(loss)
        optimizer.step(keep=self.active & finite)
        below = loss < self.threshold if self.threshold is not None else torch.zeros_like(finite)
        stops_now = self.active & (~finite | below)
        self.stop_loss.copy_(torch.where(stops_now, loss, self.stop_loss))
        self.diverged_at.copy_(torch.where(self.active & ~finite, step, self.diverged_at))
        self.active &= ~stops_now
        if (step + 1) % self.check_every == 0 or last:
            self.finish()

    def finish(self) -> None:
        """Reads a decision still on the device (the run may end between two checks)."""
        if not self.stopped and not self.active.item():
            diverged_at = int(self.diverged_at)
            self._stop(diverged_at if diverged_at >= 0 else None)

    def _stop(self, diverged_at: int | None) -> None:
        self.stopped = True
        self.active.fill_(False)
        if diverged_at is not None:
            self.divergence = (diverged_at, self.stop_loss.item())

    def state_dict(self) -> dict:
        return {"active": self.active.item(), "stop_loss": self.stop_loss.item(), "diverged_at": int(self.diverged_at)}

    def load_state_dict(self, state: dict) -> None:
        self.active.fill_(state["active"])
        self.stop_loss.fill_(state["stop_loss"])
        self.diverged_at.fill_(state["diverged_at"])
        self.stopped = not state["active"]
