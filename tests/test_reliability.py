"""Interrupts, divergence, refusals, determinism and concurrent runs: the ways real runs go wrong."""

import contextlib
import math
import shlex
import signal
import subprocess

import pytest
import torch
import yaml
from conftest import CONFIGS, ENV, litgd_command, litgd_subprocess, load_checkpoint, read_events, run_litgd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.backends.mps import is_available as is_mps_available

# A run short enough to repeat, long enough for several epochs, validations and log points.
SHORT = ["--model.stop_below", "null", "--trainer.max_steps", "300", "--data.steps_per_epoch", "100",
         "--trainer.enable_progress_bar", "false"]  # fmt: skip


def start(root, *flags: str) -> subprocess.Popen:
    args = ["fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(root)]
    return subprocess.Popen(litgd_command(*args, *SHORT, *flags), env=ENV, stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def weights(ckpt_path) -> dict:
    return {k: v for k, v in torch.load(ckpt_path, weights_only=False)["state_dict"].items() if k.startswith("net.")}


@pytest.mark.slow
def test_interrupted_runs_resume_bit_exact(tmp_path):
    """SIGINT and SIGTERM early, mid-run and at the last step: each leaves a consistent checkpoint and
    the exact command that resumes it; resuming ends with the uninterrupted run's weights, bit for bit."""
    cases = [(sig, step) for sig in (signal.SIGINT, signal.SIGTERM) for step in (1, 150, 299)]
    runs = {"baseline": start(tmp_path / "baseline")}
    for sig, step in cases:
        overlay = tmp_path / f"{sig.name}-{step}.yaml"
        callback = {"class_path": "conftest.SendSignal", "init_args": {"signum": int(sig), "at_step": step}}
        overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": [callback]}}))
        runs[sig, step] = start(tmp_path / f"{sig.name}-{step}", "--config", str(overlay))
    errors = {key: proc.communicate(timeout=300)[1] for key, proc in runs.items()}
    assert runs["baseline"].returncode == 0, errors["baseline"]
    expected = weights(tmp_path / "baseline/lightning_logs/version_0/checkpoints/last.ckpt")

    for sig, step in cases:
        assert runs[sig, step].returncode == 128 + sig, errors[sig, step]
        ckpt = tmp_path / f"{sig.name}-{step}/lightning_logs/version_0/checkpoints/interrupted.ckpt"
        assert torch.load(ckpt, weights_only=False)["global_step"] == step
        command = errors[sig, step].split("Resume with:\n")[1].splitlines()[0].strip()
        assert command.startswith("litgd fit ") and str(ckpt) in command
        with torch_threads(1):  # as the subprocesses ran (OMP_NUM_THREADS=1), so the arithmetic is the same
            assert run_litgd(*shlex.split(command)[1:]) == 0  # in this process: the signals were the point
        resumed = weights(tmp_path / f"{sig.name}-{step}/lightning_logs/version_1/checkpoints/last.ckpt")
        assert all(torch.equal(resumed[k], expected[k]) for k in expected), (sig, step)


def test_a_signal_during_start_up_stops_before_the_first_step(tmp_path, capsys):
    overlay = tmp_path / "signal.yaml"
    callback = {"class_path": "conftest.SendSignal", "init_args": {"signum": int(signal.SIGTERM), "at_step": -1}}
    overlay.write_text(yaml.safe_dump({"trainer": {"callbacks": [callback]}}))
    args = ["fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    assert run_litgd(*args, "--config", str(overlay), "--trainer.enable_progress_bar", "false") == 128 + signal.SIGTERM
    assert "Resume with:" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "lightning_logs/version_0", "interrupted.ckpt")["global_step"] == 0


def test_divergence_stops_cleanly_keeping_finite_weights(tmp_path, capsys):
    args = ["fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    status = run_litgd(*args, "--model.lr", "1e-3", "--trainer.enable_progress_bar", "false")
    err = capsys.readouterr().err
    assert status == 3  # distinct from a refused configuration (2)
    assert "diverged at step" in err and "--model.lr" in err
    run = tmp_path / "lightning_logs/version_0"
    ckpt = load_checkpoint(run)
    assert 0 < ckpt["global_step"] < 10
    assert all(t.isfinite().all() for t in ckpt["state_dict"].values())
    losses = read_events(run).Scalars("train/loss")
    # the last step ran (its update skipped, but counted), and its non-finite loss is on the curve
    assert losses[-1].step == ckpt["global_step"] - 1 and not math.isfinite(losses[-1].value)


@pytest.mark.slow
def test_divergence_exit_status_and_message_from_the_command(tmp_path):
    proc = litgd_subprocess("fit", "--config", str(CONFIGS / "random_relu.yaml"), "--model.lr", "1e-3", cwd=tmp_path)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("litgd: training diverged at step")


@pytest.mark.parametrize(
    "flags",
    [
        ["--config", "missing.yaml"],
        ["--model.unknown_key", "1"],
        ["--trainer.accelerator", "warp-drive"],
        ["--trainer.strategy", "carrier-pigeon"],
        ["--trainer.precision", "7-bit"],
        ["--trainer.default_root_dir", str(CONFIGS / "random_relu.yaml")],  # a file, not a folder
    ],
)
def test_bad_input_is_refused_before_work(flags, tmp_path, capsys):
    root = ["--trainer.default_root_dir", str(tmp_path)]
    status = run_litgd("fit", "--config", str(CONFIGS / "random_relu.yaml"), *root, *flags)
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("litgd: invalid configuration:") and err.count("\n") == 1
    assert not (tmp_path / "lightning_logs").exists()


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "mps"])
def test_unavailable_accelerator_names_what_is_available(accelerator, capsys):
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available() or accelerator == "mps" and is_mps_available():
        pytest.skip(f"this machine has {accelerator}")
    assert run_litgd("fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.accelerator", accelerator) == 2
    err = capsys.readouterr().err
    assert "--trainer.accelerator" in err and "cpu" in err and err.count("\n") == 1


def final_weights(root, *flags: str) -> dict:
    args = ["fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(root)]
    assert run_litgd(*args, "--trainer.max_steps", "20", "--trainer.enable_progress_bar", "false", *flags) == 0
    return weights(next(root.glob("lightning_logs/version_*/checkpoints/last.ckpt")))


def test_same_seed_same_weights_other_seed_other_data_and_weights(tmp_path):
    first = final_weights(tmp_path / "a", "--seed_everything", "7")
    again = final_weights(tmp_path / "b", "--seed_everything", "7")
    other = final_weights(tmp_path / "c", "--seed_everything", "8")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not any(torch.equal(first[k], other[k]) for k in first)


@pytest.mark.slow
def test_two_runs_started_at_once_never_share_a_folder(tmp_path):
    procs = [start(tmp_path, "--trainer.max_steps", "50") for _ in range(2)]
    assert [proc.wait(timeout=300) for proc in procs] == [0, 0]
    runs = sorted(tmp_path.glob("lightning_logs/version_*"))
    assert [run.name for run in runs] == ["version_0", "version_1"]
    for run in runs:
        assert (run / "config.yaml").exists() and (run / "checkpoints/last.ckpt").exists()
        assert len(list(run.glob("events.out.tfevents.*"))) == 1


values = st.one_of(
    st.integers(-3, 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "abc", "1e-3", "null", "[1]", "{}", "true"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["model.lr", "model.hidden_dim", "data.num_samples", "data.input_dim", "data.output_dim"]),
    value=values,
)
def test_fuzzed_config_values_train_or_are_refused_never_crash(tmp_path_factory, key, value):
    root = tmp_path_factory.mktemp("fuzz")
    flags = ["--trainer.max_steps", "3", "--data.num_samples", "8", "--data.input_dim", "5", "--model.hidden_dim", "4"]
    status = run_litgd(
        "fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(root),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *flags, f"--{key}", value,
    )  # fmt: skip
    assert status in (0, 2, 3)
