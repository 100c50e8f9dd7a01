"""Making the template yours: your own classes by flag, checkpoints reused, other loggers, pictures."""

import csv
import textwrap

import pytest
from conftest import CONFIGS, load_checkpoint, read_events, run_litgd

USER_MODULE = '''
import lightning as L
import torch


class SineData(L.LightningDataModule):
    """y = sin(x) with noise: a user's data module, following the contract (input_dim, output_dim)."""

    def __init__(self, num_samples: int = 128, steps_per_epoch: int = 10) -> None:
        super().__init__()
        self.input_dim, self.output_dim, self.num_samples, self.steps = 1, 1, num_samples, steps_per_epoch

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(self.num_samples, 1, generator=g) * 6 - 3
        self.batch = (x, torch.sin(x) + 0.05 * torch.randn(self.num_samples, 1, generator=g))

    def train_dataloader(self):
        return torch.utils.data.DataLoader([self.batch] * self.steps, batch_size=None)

    def val_dataloader(self):
        return torch.utils.data.DataLoader([self.batch], batch_size=None)


class MLP(L.LightningModule):
    """A user's model with automatic optimization; the optimizer comes from --optimizer."""

    def __init__(self, input_dim: int, output_dim: int, hidden_dim: int = 32) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(input_dim, hidden_dim), torch.nn.Tanh(), torch.nn.Linear(hidden_dim, output_dim)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    (tmp_path / "user_pkg").mkdir()
    (tmp_path / "user_pkg" / "__init__.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_pkg"


def test_own_data_and_model_are_selected_by_flag(user_package, tmp_path):
    args = [
        "fit", "--data", f"{user_package}.SineData", "--model", f"{user_package}.MLP", "--model.hidden_dim", "16",
        "--optimizer", "torch.optim.Adam", "--optimizer.lr", "0.01", "--trainer.max_steps", "200",
        "--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    assert run_litgd(*args) == 0
    run = tmp_path / "lightning_logs/version_0"
    ckpt = load_checkpoint(run)
    assert ckpt["hyper_parameters"]["input_dim"] == 1 and ckpt["hyper_parameters"]["output_dim"] == 1  # linked
    assert ckpt["global_step"] == 200
    losses = read_events(run).Scalars("val/loss")
    assert losses[-1].value < losses[0].value / 5


def test_data_without_the_contract_is_refused_clearly(tmp_path, capsys, monkeypatch):
    (tmp_path / "bad_pkg.py").write_text("import lightning as L\n\nclass NoDims(L.LightningDataModule):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run_litgd("fit", "--config", str(CONFIGS / "random_relu.yaml"), "--data", "bad_pkg.NoDims") == 2
    assert "input_dim" in capsys.readouterr().err


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    args = ["fit", "--config", str(CONFIGS / "regression.yaml"), "--trainer.default_root_dir", str(root)]
    assert run_litgd(*args, "--trainer.enable_progress_bar", "false") == 0
    return root


@pytest.mark.parametrize("subcommand", ["validate", "test"])
def test_validate_and_test_from_a_checkpoint(regression_run, subcommand, capsys):
    ckpt = regression_run / "lightning_logs/version_0/checkpoints/last.ckpt"
    args = [subcommand, "--config", str(CONFIGS / "regression.yaml"), "--ckpt_path", str(ckpt)]
    assert run_litgd(*args, "--trainer.default_root_dir", str(regression_run)) == 0
    stage = "val" if subcommand == "validate" else "test"
    assert f"{stage}/r2" in capsys.readouterr().out


def test_predict_writes_a_csv_in_the_run_folder(regression_run, capsys):
    ckpt = regression_run / "lightning_logs/version_0/checkpoints/last.ckpt"
    args = ["predict", "--config", str(CONFIGS / "regression.yaml"), "--ckpt_path", str(ckpt)]
    assert run_litgd(*args, "--trainer.default_root_dir", str(regression_run)) == 0
    (path,) = regression_run.glob("lightning_logs/version_*/predictions.csv")
    assert f"wrote 20 predictions to {path}" in capsys.readouterr().out
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 20 and list(rows[0]) == ["y_pred_0"]
    assert all(0.5 < float(row["y_pred_0"]) < 3.5 for row in rows)  # y = 1 + 2x on x in [0, 1]


def test_csv_logger_by_flag(tmp_path):
    args = [
        "fit", "--config", str(CONFIGS / "regression.yaml"), "--trainer.max_steps", "300",
        "--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    assert run_litgd(*args) == 0
    rows = list(csv.DictReader((tmp_path / "lightning_logs/version_0/metrics.csv").open()))
    assert any(row.get("train/loss") for row in rows) and any(row.get("val/loss") for row in rows)
    assert (tmp_path / "lightning_logs/version_0/checkpoints/loss_curve.png").exists()


def test_regression_fit_leaves_pictures(regression_run):
    run = regression_run / "lightning_logs/version_0"
    assert "fit/regression" in read_events(run).Tags()["images"]
    png = (run / "checkpoints/loss_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
