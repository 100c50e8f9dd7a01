import pytest
import yaml
from conftest import CONFIGS, litgd_subprocess, load_checkpoint, read_events, run_litgd


def test_event_files_hold_scalars_and_histograms(fit):
    run = fit("regression.yaml", "--trainer.max_steps", "300")
    tags = read_events(run).Tags()
    assert {"train/loss", "val/loss", "val/mse", "val/r2"} <= set(tags["scalars"])
    expected_histograms = {
        "weights/linear.weight",
        "weights/linear.bias",
        "grads/linear.weight",
        "grads/linear.bias",
        "train/squared_error",
    }
    assert expected_histograms <= set(tags["histograms"])
    steps = [event.step for event in read_events(run).Scalars("train/loss")]
    assert steps[-1] == 299  # the final step is logged even off the 50-step cadence
    assert (run / "config.yaml").exists() and (run / "checkpoints" / "last.ckpt").exists()


def test_flags_override_config_values(fit):
    run = fit("random_relu.yaml", "--trainer.max_steps", "7", "--model.lr", "2e-6", "--data.num_samples", "16")
    ckpt = load_checkpoint(run)
    assert ckpt["global_step"] == 7
    assert ckpt["hyper_parameters"]["lr"] == 2e-6
    assert ckpt["datamodule_hyper_parameters"]["num_samples"] == 16
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["init_args"]["lr"] == 2e-6 and saved["trainer"]["max_steps"] == 7


def test_data_dimensions_size_the_model(fit):
    run = fit(
        "random_relu.yaml",
        "--trainer.max_steps",
        "2",
        "--data.input_dim",
        "12",
        "--data.output_dim",
        "3",
        "--model.hidden_dim",
        "5",
    )
    state = load_checkpoint(run)["state_dict"]
    assert state["net.w1"].shape == (12, 5) and state["net.w2"].shape == (5, 3)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--model.lr", "-1"),
        ("--model.lr", "0"),
        ("--model.lr", "nan"),
        ("--model.lr", "inf"),
        ("--model.lr", "fast"),
        ("--model.hidden_dim", "0"),
        ("--data.num_samples", "-3"),
        ("--data.input_dim", "0"),
        ("--data.output_dim", "0"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(flag, value, capsys, tmp_path):
    status = run_litgd(
        "fit", "--config", str(CONFIGS / "random_relu.yaml"), "--trainer.default_root_dir", str(tmp_path), flag, value
    )
    err = capsys.readouterr().err
    assert status == 2
    assert flag.lstrip("-") in err and "Traceback" not in err
    assert not (tmp_path / "lightning_logs").exists()  # refused before any work


@pytest.mark.slow
def test_refusal_is_one_paragraph_without_traceback(tmp_path):
    proc = litgd_subprocess("fit", "--config", str(CONFIGS / "random_relu.yaml"), "--model.lr", "-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "model.lr" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_print_config_shows_public_keys(capsys):
    assert run_litgd("fit", "--config", str(CONFIGS / "random_relu.yaml"), "--print_config") == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["init_args"]["lr"] == 1e-6 and printed["model"]["init_args"]["hidden_dim"] == 100
    assert {"num_samples", "input_dim", "output_dim"} <= set(printed["data"]["init_args"])


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_subcommands_exist(subcommand, capsys):
    assert run_litgd(subcommand, "--help") == 0
    assert "--ckpt_path" in capsys.readouterr().out
