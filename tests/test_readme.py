"""Every command in README.md runs here (or, where named below, in another test or in CI)."""

import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ENV, ROOT, free_port, litgd_command, run_litgd

import litgd

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.DOTALL)
COMMANDS = [line for lang, body in BLOCKS if lang == "bash" for line in body.splitlines() if line.strip()]
SOURCES = {body.splitlines()[0].removeprefix("# file: "): body for lang, body in BLOCKS if lang == "python"}
QUICK = ["--trainer.max_steps", "30", "--trainer.enable_progress_bar", "false"]
# Run elsewhere: test.sh is what CI runs; rename.py rewrites the checkout it runs in, so tests/test_rename.py
# runs it on a copy. Not runnable here: srun needs a SLURM cluster.
ELSEWHERE = ("./scripts/test.sh", "python3 scripts/rename.py ", "srun ")


def test_readme_quotes_a_benchmark_table():
    table = README.split(".venv/bin/python scripts/benchmark.py\n```\n\n```text\n")[1].split("```")[0]
    for loop in ("bare", "minimal", "project"):
        assert re.search(rf"^64x1000x100x10 +{loop} +1500 +\d+\.\d+", table, flags=re.MULTILINE), loop


def test_readme_has_the_commands_it_promises():
    assert COMMANDS[:2] == ["./scripts/fit.sh", "./scripts/test.sh"]  # the two set-up commands come first
    assert "./scripts/test.sh" in (ROOT / ".ci/run").read_text()
    assert set(SOURCES) == {"src/litgd/sine.py", "src/litgd/mlp.py"}


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch, capsys):
    """In README order, from a fresh folder with the repo's configs; fits are cut to a few steps."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    extra = tmp_path / "readme_modules"  # the README's own modules, importable as litgd.sine and litgd.mlp
    extra.mkdir()
    for path, source in SOURCES.items():
        (extra / Path(path).name).write_text(source)
    monkeypatch.setattr(litgd, "__path__", [*litgd.__path__, str(extra)])

    torchrun = []
    for command in COMMANDS:
        if command.startswith(ELSEWHERE):
            continue
        words = shlex.split(command)
        if words[0] == "torchrun":
            torchrun.append(words)
        elif words[0] == "tensorboard":
            check_tensorboard_serves(words)
        elif words[-1].endswith("benchmark.py") or "scripts/benchmark.py" in words:
            tiny = ["--sizes", "8x16x8x4", "--steps", "20", "--warmup", "5", "--repeats", "1", "--no-start-up"]
            assert subprocess.run([sys.executable, "scripts/benchmark.py", *tiny], cwd=ROOT, env=ENV).returncode == 0
        else:
            check_litgd(words, command)
    assert len(torchrun) == 2
    check_torchrun(torchrun)


def check_litgd(words: list[str], command: str) -> None:
    if words[0] == "./scripts/fit.sh":  # what fit.sh adds: the subcommand and, without --config, the default one
        words = ["fit", *([] if "--config" in words else ["--config", "configs/random_relu.yaml"]), *words[1:]]
    else:
        assert words[0] == "litgd", command
        words = words[1:]
    args = [*words, *(QUICK if words[0] == "fit" and "--print_config" not in words else [])]
    wants_gpu = "gpu" in words and not torch.cuda.is_available()
    if "ddp" in words:  # DDP starts its processes by re-running the command line: a process of its own
        status = subprocess.run(litgd_command(*args), env=ENV, capture_output=True).returncode
    else:
        status = run_litgd(*args)
    assert status == (2 if wants_gpu else 0), command  # 2: a GPU asked for on a machine without one


def check_tensorboard_serves(words: list[str]) -> None:
    port = str(free_port())
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), *words[1:], "--port", port], env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                return
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        pytest.fail("tensorboard did not start serving within 60 s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def check_torchrun(commands: list[list[str]]) -> None:
    port = str(free_port())
    nodes = []
    for words in commands:
        args = [w.replace("$MASTER_ADDR", "127.0.0.1") for w in words[1:]]  # both "nodes" on this machine
        args[args.index("--master_port") + 1] = port  # any free port on this one machine
        cmd = [sys.executable, "-m", "torch.distributed.run", *args, *QUICK, "--trainer.default_root_dir", "nodes"]
        nodes.append(subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errors = [node.communicate(timeout=300)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-2000:]


@pytest.mark.slow
def test_fit_script_sets_up_and_trains(tmp_path):
    """The script itself, not its in-process equivalent: set-up (already done here), default config, flags."""
    args = [
        "--trainer.max_steps",
        "20",
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.enable_progress_bar",
        "false",
    ]
    proc = subprocess.run([str(ROOT / "scripts/fit.sh"), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = (tmp_path / "lightning_logs/version_0/config.yaml").read_text()
    assert "random_relu" not in saved and "hidden_dim: 100" in saved  # the default config's values, as run
    assert (tmp_path / "lightning_logs/version_0/checkpoints/last.ckpt").exists()
