"""Pictures for people, drawn once at the end of a fit: the loss curve, and the fitted line of a regression.

matplotlib is imported here only, when drawing, so that it adds nothing to start-up or to each step.
"""

from pathlib import Path

import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def save_loss_curve(steps: list[int], losses: list[float], path: Path):
    """The logged training loss against the step, on a log scale, as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.semilogy(steps, losses, marker=".")
    ax.set(xlabel="step", ylabel="train/loss", title="Training loss")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def regression_figure(x: torch.Tensor, y: torch.Tensor, fitted: tuple[float, float], true: tuple[float, float] | None):
    """The data, the fitted line ``y = a + b·x`` and, when the data module knows it, the true line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    x, y = x.detach().float().cpu().flatten(), y.detach().float().cpu().flatten()
    ax.scatter(x, y, s=12, alpha=0.6, label="training data")
    line = torch.linspace(float(x.min()), float(x.max()), 2)
    a, b = fitted
    ax.plot(line, a + b * line, color="C1", label=f"fitted: y = {a:.3f} + {b:.3f}x")
    if true is not None:
        ax.plot(line, true[0] + true[1] * line, "k--", label=f"true: y = {true[0]:g} + {true[1]:g}x")
    ax.set(xlabel="x", ylabel="y", title="Linear regression")
    ax.legend()
    fig.tight_layout()
    return fig
