"""What Lightning costs per step, and what this template adds on top: one table, median of alternating runs.

    python scripts/benchmark.py                       # seed size and a larger CPU size
    python scripts/benchmark.py --device cuda         # adds a GPU-only size
    python scripts/benchmark.py --sizes 64x1000x100x10 --steps 1500 --repeats 5 --json

Three loops do the same full-batch step ``w ← w − lr·∇w`` on ``relu(x·W1)·W2``:
  bare     the seed notebook's PyTorch loop, nothing else
  minimal  the smallest manual-optimization LightningModule (loss logged every 50 steps, nothing else)
  project  litgd as `litgd fit --config configs/random_relu.yaml` runs it: its logging, histogram,
           validation and checkpoint cadence, built by the project's own CLI
Each loop is timed over its last `steps - warmup` steps (start-up excluded), alternating the loops so that
drift in machine speed hits all three alike. GFLOP/s counts the matmuls of forward and backward, next to a
bare `torch.mm` of the first layer's shape.
"""

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from unittest import mock

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from litgd.cli import CLI
from litgd.data import SeedDataModule
from litgd.interrupts import SignalGuard
from litgd.system import GradientDescent

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = {"cpu": ["64x1000x100x10", "1024x1000x1000x100"], "cuda": ["64x1000x100x10", "1024x1000x1000x100",
                                                                       "8192x4096x4096x1024"]}  # fmt: skip


def learning_rate(size) -> float:
    """The seed's 1e-6, shrunk for larger sizes so that no loop diverges: the project would stop early on a
    non-finite loss, and timing needs every loop to run its steps. The value does not change the cost."""
    n, d_in, h, d_out = size
    return 1e-6 * min(1.0, 64 * 1000 * 100 * 10 / (n * d_in * h * d_out)) ** 2


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare(size, steps: int, warmup: int, device: torch.device) -> float:
    """The notebook's loop. Its per-step `error.item() < 1e-6` is left out: these runs have a fixed length."""
    n, d_in, h, d_out = size
    lr = learning_rate(size)
    x, y = torch.randn(n, d_in, device=device), torch.randn(n, d_out, device=device)
    w1 = torch.randn(d_in, h, device=device, requires_grad=True)
    w2 = torch.randn(h, d_out, device=device, requires_grad=True)
    for step in range(steps):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        error = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        error.backward()
        with torch.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()
    sync(device)
    return (time.perf_counter() - start) / (steps - warmup)


class Minimal(L.LightningModule):
    """The floor: manual optimization doing the same step, logging the loss every 50 steps."""

    def __init__(self, d_in: int, h: int, d_out: int, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.automatic_optimization = False
        self.w1, self.w2 = torch.nn.Parameter(torch.randn(d_in, h)), torch.nn.Parameter(torch.randn(h, d_out))

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt = self.optimizers()
        loss = (x.mm(self.w1).relu().mm(self.w2) - y).pow(2).sum()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        if (self.global_step + 1) % 50 == 0:  # the steps at which Lightning writes logs (log_every_n_steps)
            self.log("train/loss", loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class StepTimer(L.Callback):
    """Wall time from the start of step `warmup` to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, *_) -> None:
        sync(pl_module.device)
        self.end, self.steps = time.perf_counter(), trainer.global_step - self.warmup

    def per_step(self) -> float:
        return (self.end - self.start) / self.steps


def minimal(size, steps: int, warmup: int, device: torch.device, root: str) -> float:
    n, d_in, h, d_out = size
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator=device.type, devices=1, max_steps=steps, logger=TensorBoardLogger(root), callbacks=[timer],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        num_sanity_val_steps=0,
    )  # fmt: skip
    data = SeedDataModule(num_samples=n, input_dim=d_in, output_dim=d_out, steps_per_epoch=steps, seed=0)
    trainer.fit(Minimal(d_in, h, d_out, learning_rate(size)), data)
    return timer.per_step()


def project(size, steps: int, warmup: int, device: torch.device, root: str, *flags: str) -> float:
    n, d_in, h, d_out = size
    args = [
        "--config", str(ROOT / "configs/random_relu.yaml"), "--trainer.default_root_dir", root,
        "--trainer.max_steps", str(steps), "--trainer.accelerator", device.type, "--trainer.devices", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--data.num_samples", str(n), "--data.input_dim", str(d_in), "--data.output_dim", str(d_out),
        "--model.hidden_dim", str(h), "--model.lr", str(learning_rate(size)), "--seed_everything", "0", *flags,
    ]  # fmt: skip
    with mock.patch.object(sys, "argv", sys.argv[:1]):  # the benchmark's own flags are not the CLI's
        cli = CLI(GradientDescent, SeedDataModule, subclass_mode_model=True, subclass_mode_data=True, args=args,
                  run=False, guard=SignalGuard(), save_config_callback=None)  # fmt: skip
    timer = StepTimer(warmup)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, cli.datamodule)
    return timer.per_step()


def mm_gflops(size, device: torch.device, repeats: int = 20) -> float:
    n, d_in, h, _ = size
    a, b = torch.randn(n, d_in, device=device), torch.randn(d_in, h, device=device)
    a.mm(b)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a.mm(b)
    sync(device)
    return 2 * n * d_in * h * repeats / (time.perf_counter() - start) / 1e9


def step_flops(size) -> int:
    n, d_in, h, d_out = size
    # forward x·W1 and h·W2; backward ∂W2, ∂h and ∂W1 (x needs no gradient)
    return 2 * n * d_in * h * 2 + 2 * n * h * d_out * 3


def start_up_seconds(repeats: int = 3) -> dict[str, float]:
    """Process start: `import lightning` alone, and the `litgd` command's imports."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    times = {name: [] for name in ("import lightning", "import litgd.cli")}
    for _ in range(repeats):
        for name in times:
            times[name].append(once(name))
    return {name: statistics.median(values) for name, values in times.items()}


def peak_memory_mb(repeats: int = 3) -> dict[str, float]:
    """Peak resident memory of a whole process fitting the seed size, minimal module vs project."""

    def once(loop: str) -> float:
        cmd = [sys.executable, __file__, "--peak-rss-of", loop]
        return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])

    return {loop: statistics.median(once(loop) for _ in range(repeats)) for loop in ("minimal", "project")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", nargs="+", help="N x D_in x H x D_out, e.g. 64x1000x100x10")
    parser.add_argument("--steps", type=int, nargs="+", help="steps per run, one per size (default 1500, then 40)")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of each timing")
    parser.add_argument("--repeats", type=int, default=7, help="alternating runs per loop; the median is kept")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--no-start-up", action="store_true", help="skip the start-up and memory measurements")
    parser.add_argument("--peak-rss-of", choices=["minimal", "project"], help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)  # keep the output to the table
    warnings.filterwarnings("ignore", module="lightning")
    device = torch.device(args.device)
    if args.peak_rss_of:
        with tempfile.TemporaryDirectory() as root:
            {"minimal": minimal, "project": project}[args.peak_rss_of]((64, 1000, 100, 10), 300, 10, device, root)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux
        return
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("benchmark: --device cuda asked for, but torch sees no CUDA device here.")
    sizes = [tuple(int(d) for d in s.split("x")) for s in (args.sizes or DEFAULT_SIZES[device.type])]
    steps = args.steps or [1500] + [40] * (len(sizes) - 1)
    if len(steps) == 1:
        steps = steps * len(sizes)
    if len(steps) != len(sizes) or min(steps) <= args.warmup:
        sys.exit("benchmark: give one --steps value, or one per size, each larger than --warmup.")

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for size, n_steps in zip(sizes, steps, strict=True):
            times = {"bare": [], "minimal": [], "project": []}
            for _ in range(args.repeats):
                times["bare"].append(bare(size, n_steps, args.warmup, device))
                times["minimal"].append(minimal(size, n_steps, args.warmup, device, root))
                times["project"].append(project(size, n_steps, args.warmup, device, root))
            median = {name: statistics.median(values) for name, values in times.items()}
            for name, seconds in median.items():
                rows.append({
                    "size": "x".join(map(str, size)), "loop": name, "steps": n_steps, "ms_per_step": seconds * 1e3,
                    "vs_bare": seconds / median["bare"], "vs_minimal": seconds / median["minimal"],
                    "gflops": step_flops(size) / seconds / 1e9, "mm_gflops": mm_gflops(size, device),
                })  # fmt: skip
    start_up = {} if args.no_start_up else start_up_seconds()
    memory = {} if args.no_start_up else peak_memory_mb()
    if args.json:
        print(
            json.dumps(
                {
                    "device": str(device),
                    "torch": torch.__version__,
                    "lightning": L.__version__,
                    "threads": torch.get_num_threads(),
                    "rows": rows,
                    "start_up_s": start_up,
                },
                indent=2,
            )
        )
        return
    print(f"device {device}, torch {torch.__version__}, lightning {L.__version__}, {torch.get_num_threads()} threads,"
          f" median of {args.repeats} alternating runs")  # fmt: skip
    print(f"{'size N×D_in×H×D_out':<22}{'loop':<9}{'steps':>6}{'ms/step':>10}{'×bare':>8}{'×minimal':>10}"
          f"{'GFLOP/s':>9}{'mm GFLOP/s':>12}")  # fmt: skip
    for r in rows:
        print(f"{r['size']:<22}{r['loop']:<9}{r['steps']:>6}{r['ms_per_step']:>10.3f}{r['vs_bare']:>8.3f}"
              f"{r['vs_minimal']:>10.3f}{r['gflops']:>9.1f}{r['mm_gflops']:>12.1f}")  # fmt: skip
    for name, seconds in start_up.items():
        print(f"start-up: python -c '{name}': {seconds:.2f} s")
    for loop, mb in memory.items():
        print(f"peak memory of a 300-step seed-size fit, {loop}: {mb:.0f} MB")


if __name__ == "__main__":
    main()
