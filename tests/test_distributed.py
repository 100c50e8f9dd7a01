"""Data parallel on CPU processes (gloo) gives the single-process full-batch update."""

import subprocess
import sys

import pytest
import torch
from conftest import CONFIGS, ENV, free_port, litgd_subprocess, load_checkpoint

pytestmark = pytest.mark.slow


def relative_difference(a: dict, b: dict) -> float:
    return max(((a[k] - b[k]).norm() / b[k].norm()).item() for k in b if k.startswith("net."))


@pytest.mark.parametrize(
    ("config", "strategy", "num_samples"),
    [
        ("random_relu.yaml", "ddp", "63"),  # summed loss, uneven shards of 32 and 31 samples
        ("regression.yaml", "ddp_spawn", "100"),  # mean loss over 40 + 40 training samples
    ],
)
def test_two_process_ddp_equals_one_process(fit, tmp_path, config, strategy, num_samples):
    flags = ["--model.stop_below", "null", "--trainer.max_steps", "200", "--data.num_samples", num_samples]
    single = load_checkpoint(fit(config, *flags))["state_dict"]
    root = tmp_path / strategy
    proc = litgd_subprocess(
        "fit", "--config", str(CONFIGS / config), *flags, "--trainer.default_root_dir", str(root),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", strategy, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(root / "lightning_logs/version_0")
    assert ckpt["global_step"] == 200
    assert relative_difference(ckpt["state_dict"], single) < 1e-5


def test_two_nodes_under_torchrun_equal_one_process(fit, tmp_path):
    flags = ["--model.stop_below", "null", "--trainer.max_steps", "200"]
    single = load_checkpoint(fit("random_relu.yaml", *flags))["state_dict"]
    port, root = str(free_port()), tmp_path / "two-nodes"
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc_per_node",
                "1",
                "--node_rank",
                str(rank),
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                port,
                "-m",
                "litgd",
                "fit",
                "--config",
                str(CONFIGS / "random_relu.yaml"),
                *flags,
                "--trainer.default_root_dir",
                str(root),
                "--trainer.accelerator",
                "cpu",
                "--trainer.devices",
                "1",
                "--trainer.num_nodes",
                "2",
                "--trainer.strategy",
                "ddp",
                "--trainer.enable_progress_bar",
                "false",
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    errors = [node.communicate(timeout=300)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-3000:]
    assert relative_difference(load_checkpoint(root / "lightning_logs/version_0")["state_dict"], single) < 1e-5
    assert not (root / "lightning_logs/version_1").exists()  # one run, one folder, written by rank 0


def test_flags_the_machine_cannot_honour_are_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = litgd_subprocess(
        "fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.accelerator", "gpu", "--trainer.devices", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--trainer.accelerator" in proc.stderr and "cpu" in proc.stderr
