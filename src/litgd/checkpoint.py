"""Lightning's ModelCheckpoint, without the per-step cost of the hooks it leaves empty."""

from lightning.pytorch.callbacks import Callback, ModelCheckpoint

# Hooks that Lightning calls on every callback at every step and that ModelCheckpoint does not use.
_UNUSED_PER_STEP_HOOKS = (
    "on_train_batch_start",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
)


class LastCheckpoint(ModelCheckpoint):
    """Saves exactly as ModelCheckpoint does (the CLI configures it to keep only ``last.ckpt``).

    Lightning calls each callback's hooks every step, and each call costs about 3 µs (a profiler context
    and the callback's state key) even when the hook does nothing: the four empty ones here were 2% of a
    seed-sized step (scripts/benchmark.py). Lightning skips a hook that is not callable, so they are None.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for hook in _UNUSED_PER_STEP_HOOKS:
            if getattr(type(self), hook) is getattr(Callback, hook):  # still empty in this Lightning version
                setattr(self, hook, None)
