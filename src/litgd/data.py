"""The seed notebook's two datasets behind one LightningDataModule.

Every batch is the whole (sharded) dataset, kept resident on the training device: one training step is
one full-batch gradient step, as in the notebook, and an epoch is ``steps_per_epoch`` such steps.

Contract for your own data module (so that ``--data your_pkg.YourData`` keeps the dimension linking):
expose ``input_dim`` and ``output_dim`` attributes; the CLI feeds them to the model.
"""

import itertools
from collections.abc import Iterator
from typing import Literal

import lightning as L
import numpy as np
import torch
from jsonargparse.typing import PositiveInt
from torch.utils.data import DataLoader, IterableDataset

Batch = tuple[torch.Tensor, torch.Tensor]


def seed_regression_arrays(seed: int = 42, num_samples: int = 100) -> tuple[np.ndarray, ...]:
    """The notebook's ``y = 1 + 2x + 0.1·noise`` data and its shuffled 80/20 split, bit for bit.

    ``RandomState(seed)`` draws the same stream as ``np.random.seed(seed)`` without touching numpy's
    global state. Returns ``x_train, y_train, x_val, y_val``, each of shape (n, 1), float64.
    """
    rng = np.random.RandomState(seed)
    x = rng.rand(num_samples, 1)
    y = 1 + 2 * x + 0.1 * rng.randn(num_samples, 1)
    idx = np.arange(num_samples)
    rng.shuffle(idx)
    train_idx, val_idx = idx[: int(0.8 * num_samples)], idx[int(0.8 * num_samples) :]
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


class RepeatedBatch(IterableDataset):
    """Yields the same full batch ``steps`` times. Iterable, so no sampler re-draws or re-shards it."""

    def __init__(self, batch: Batch, steps: int) -> None:
        self.batch, self.steps = batch, steps

    def __iter__(self) -> Iterator[Batch]:
        return itertools.repeat(self.batch, self.steps)

    def __len__(self) -> int:
        return self.steps


class SeedDataModule(L.LightningDataModule):
    """``random``: the ReLU experiment's ``randn`` inputs and targets; ``regression``: ``y = 1 + 2x``.

    ``random`` has no held-out split in the notebook (random targets carry nothing to generalise), so
    its validation set is the training batch and validation measures the fit.
    """

    def __init__(
        self,
        dataset: Literal["random", "regression"] = "random",
        num_samples: PositiveInt = 64,
        input_dim: PositiveInt = 1000,
        output_dim: PositiveInt = 10,
        steps_per_epoch: PositiveInt = 1000,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if dataset == "regression" and (input_dim, output_dim) != (1, 1):
            raise ValueError(
                f"data.dataset 'regression' is y = 1 + 2x with one input and one output, but got "
                f"data.input_dim={input_dim} and data.output_dim={output_dim}: set both to 1."
            )
        if dataset == "regression" and num_samples < 5:
            raise ValueError(f"data.num_samples must be at least 5 for the 80/20 split, got {num_samples}.")
        self.save_hyperparameters()
        self.input_dim, self.output_dim = input_dim, output_dim
        # (a, b) of the line the data was drawn from, for the picture at the end of a regression fit
        self.true_line = (1.0, 2.0) if dataset == "regression" else None

    def setup(self, stage: str) -> None:
        # None follows --seed_everything, so one seed changes both the data and the initial weights.
        seed = torch.initial_seed() if self.hparams.seed is None else self.hparams.seed
        if self.hparams.dataset == "regression":
            arrays = seed_regression_arrays(seed % 2**32, self.hparams.num_samples)  # numpy takes 32-bit seeds
            x, y, x_val, y_val = map(torch.from_numpy, arrays)
            train, val = (x.float(), y.float()), (x_val.float(), y_val.float())
        else:
            g = torch.Generator().manual_seed(seed)
            x = torch.randn(self.hparams.num_samples, self.input_dim, generator=g)
            train = val = (x, torch.randn(self.hparams.num_samples, self.output_dim, generator=g))
        self.train_batch, self.val_batch = self._place(train), self._place(val)

    def _place(self, batch: Batch) -> Batch:
        """This process's contiguous shard of the samples, converted and moved once, not every step."""
        if self.trainer is None:
            return batch
        rank, world = self.trainer.global_rank, self.trainer.world_size
        device, precision = self.trainer.strategy.root_device, self.trainer.precision_plugin
        return tuple(precision.convert_input(t.tensor_split(world)[rank]).to(device) for t in batch)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RepeatedBatch(self.train_batch, self.hparams.steps_per_epoch), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RepeatedBatch(self.val_batch, 1), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self.val_dataloader()
