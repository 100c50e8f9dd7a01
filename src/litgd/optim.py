"""The notebook's update as an optimizer, so that Lightning can drive it."""

import torch


class PlainGradientDescent(torch.optim.Optimizer):
    """``w ← w − lr·∇w``, and nothing else. The step consumes the gradients: they are released after use.

    Stepping it through ``self.optimizers()`` lets Lightning count steps (``max_steps``, checkpoints) and,
    under 16-bit mixed precision, lets the gradient scaler hand over its scale and overflow flag, with which
    this step unscales the gradients and skips an overflowing update. A hand-written ``p -= lr * p.grad``
    would leave ``global_step`` at 0 and apply still-scaled gradients.
    """

    # With this flag a GradScaler hands `step` the tensors `found_inf` and `grad_scale` instead of reading
    # `found_inf` on the host, so an overflowing step is skipped without a host-device sync.
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
                update = grad.mul_(group["lr"])  # in place, and the same rounding as the seed's `w -= lr * grad`
                p.sub_(update if keep is None else torch.where(keep, update, 0.0))
                p.grad = None  # consumed (it now holds lr·grad): released, so no zero_grad pass is needed
        return loss
