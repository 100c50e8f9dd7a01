import glob
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litgd.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def run_litgd(*args: str) -> int:
    """Runs the console command in this process; returns its exit status."""
    try:
        with mock.patch.object(sys, "argv", ["litgd"]):  # pytest's own flags are not the command's
            main(list(args))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


def litgd_subprocess(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Runs the console command as users do, in its own process (for exit status, stderr, signals)."""
    return subprocess.run(litgd_command(*args), capture_output=True, text=True, timeout=timeout, env=ENV, **kwargs)


def litgd_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "litgd", *args]


# Subprocesses can import this file's helpers (`conftest.SendSignal`), and use one thread each so that
# runs started side by side do not fight over the two cores, and compute alike.
PYTHONPATH = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
ENV = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}


@pytest.fixture
def fit(tmp_path):
    """``fit(config, *flags)`` trains into ``tmp_path`` and returns the run's ``version_N`` folder."""

    def _fit(config: str, *flags: str) -> Path:
        status = run_litgd(
            "fit",
            "--config",
            str(CONFIGS / config),
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
            *flags,
        )
        assert status == 0
        runs = Path(tmp_path, "lightning_logs").glob("version_*")
        return max(runs, key=lambda run: int(run.name.removeprefix("version_")))

    return _fit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_checkpoint(run: Path, name: str = "last.ckpt") -> dict:
    return torch.load(run / "checkpoints" / name, weights_only=False, map_location="cpu")


def read_events(run: Path) -> EventAccumulator:
    (path,) = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    events = EventAccumulator(path, size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    events.Reload()
    return events


class SendSignal(L.Callback):
    """Test helper, used from configs: the process sends itself ``signum`` after step ``at_step``, or
    while fit starts, before Lightning listens for signals, if ``at_step`` is -1."""

    def __init__(self, signum: int, at_step: int) -> None:
        self.signum, self.at_step = signum, at_step

    def on_fit_start(self, *_) -> None:
        if self.at_step == -1:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, *_) -> None:
        if trainer.global_step == self.at_step:
            os.kill(os.getpid(), self.signum)
