import numpy as np
import pytest
import torch

from litgd.data import SeedDataModule, seed_regression_arrays


def notebook_arrays():
    """The seed notebook's cell, verbatim (it uses numpy's global RNG)."""
    np.random.seed(42)
    x = np.random.rand(100, 1)
    y = 1 + 2 * x + 0.1 * np.random.randn(100, 1)
    idx = np.arange(100)
    np.random.shuffle(idx)
    train_idx = idx[:80]
    val_idx = idx[80:]
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def test_regression_arrays_equal_the_notebook_bit_for_bit():
    expected = notebook_arrays()
    np.random.seed(7)  # whatever the global state, the module neither reads nor changes it
    state = np.random.get_state()
    ours = seed_regression_arrays(42, 100)
    assert all(np.array_equal(a, b) for a, b in zip(ours, expected, strict=True))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_regression_split_is_a_shuffled_80_20_partition():
    x_train, y_train, x_val, y_val = seed_regression_arrays(42, 100)
    assert x_train.shape == y_train.shape == (80, 1) and x_val.shape == y_val.shape == (20, 1)
    np.random.seed(42)
    x_all = np.random.rand(100, 1)
    combined = np.concatenate([x_train, x_val])
    assert not np.array_equal(combined, x_all)  # shuffled
    assert np.array_equal(np.sort(combined, axis=0), np.sort(x_all, axis=0))  # and nothing lost or repeated


def test_regression_datamodule_serves_the_arrays_as_one_full_batch():
    dm = SeedDataModule("regression", num_samples=100, input_dim=1, output_dim=1, steps_per_epoch=3, seed=42)
    dm.setup("fit")
    x_train, y_train, x_val, y_val = seed_regression_arrays(42, 100)
    batches = list(dm.train_dataloader())
    assert len(batches) == 3  # an epoch is `steps_per_epoch` full-batch steps
    for x, y in batches:
        assert torch.equal(x, torch.from_numpy(x_train).float()) and torch.equal(y, torch.from_numpy(y_train).float())
    ((x, y),) = list(dm.val_dataloader())
    assert torch.equal(x, torch.from_numpy(x_val).float()) and torch.equal(y, torch.from_numpy(y_val).float())


def test_random_data_has_the_seed_shapes_and_follows_its_seed():
    def batch(seed):
        dm = SeedDataModule(seed=seed)
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))

    x, y = batch(1)
    assert x.shape == (64, 1000) and y.shape == (64, 10)
    assert torch.equal(x, batch(1)[0])
    assert not torch.equal(x, batch(2)[0])


def test_random_data_follows_seed_everything_when_no_seed_is_given():
    def batch(global_seed):
        torch.manual_seed(global_seed)
        dm = SeedDataModule(num_samples=4, input_dim=3, output_dim=2)
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))[0]

    assert torch.equal(batch(5), batch(5)) and not torch.equal(batch(5), batch(6))


def test_regression_refuses_dimensions_it_cannot_have():
    with pytest.raises(ValueError, match="data.input_dim"):
        SeedDataModule("regression", input_dim=3, output_dim=1)
