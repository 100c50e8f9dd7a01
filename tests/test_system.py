import numpy as np
import pytest
import torch
from conftest import load_checkpoint, read_events

from litgd.data import seed_regression_arrays
from litgd.nets import TwoLayerReLU
from litgd.optim import PlainGradientDescent


def test_summed_loss_gradient_matches_finite_differences():
    """The notebook's point: automatic differentiation agrees with numerical differentiation."""
    torch.manual_seed(0)
    net = TwoLayerReLU(6, 5, 3).double()
    x, y = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)

    def summed_loss(w1, w2):
        return (x.mm(w1).relu().mm(w2) - y).pow(2).sum()

    w1 = net.w1.detach().clone().requires_grad_()
    w2 = net.w2.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(summed_loss, (w1, w2))


def test_one_update_is_exactly_w_minus_lr_grad():
    torch.manual_seed(0)
    net = TwoLayerReLU(20, 8, 3)
    x, y = torch.randn(5, 20), torch.randn(5, 3)
    (net(x) - y).pow(2).sum().backward()
    expected = {name: p.detach() - 1e-3 * p.grad for name, p in net.named_parameters()}
    PlainGradientDescent(net.parameters(), lr=1e-3).step()
    for name, p in net.named_parameters():
        assert torch.equal(p.detach(), expected[name])


def test_a_kept_false_step_changes_nothing():
    net = TwoLayerReLU(4, 3, 2)
    (net(torch.randn(2, 4)).sum() * float("nan")).backward()  # even non-finite gradients are not applied
    before = [p.detach().clone() for p in net.parameters()]
    PlainGradientDescent(net.parameters(), lr=1.0).step(keep=torch.tensor(False))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_random_relu_config_stops_below_threshold_before_max_steps(fit):
    run = fit("random_relu.yaml")
    ckpt = load_checkpoint(run)
    losses = read_events(run).Scalars("train/loss")
    final_step = losses[-1].step
    assert losses[-1].value < 1e-6
    assert all(event.value >= 1e-6 for event in losses[:-1])
    assert final_step + 1 < 5000
    assert ckpt["global_step"] == final_step + 1  # last.ckpt holds the weights after the final update


def test_regression_config_recovers_least_squares(fit):
    run = fit("regression.yaml")
    x_train, y_train, _, _ = seed_regression_arrays(42, 100)
    design = np.hstack([np.ones_like(x_train), x_train])
    (a, b), *_ = np.linalg.lstsq(design, y_train[:, 0], rcond=None)
    state = load_checkpoint(run)["state_dict"]
    assert state["net.linear.bias"].item() == pytest.approx(a, abs=1e-4)
    assert state["net.linear.weight"].item() == pytest.approx(b, abs=1e-4)
    assert load_checkpoint(run)["global_step"] == 1000


def test_resuming_a_run_that_stopped_below_the_threshold_changes_nothing(fit):
    first = fit("random_relu.yaml")
    stopped = load_checkpoint(first)
    resumed = fit(
        "random_relu.yaml", "--ckpt_path", str(first / "checkpoints/last.ckpt"), "--trainer.min_steps", "2000"
    )
    state = load_checkpoint(resumed)["state_dict"]
    assert load_checkpoint(resumed)["global_step"] >= 2000  # min_steps kept the run going, with no-op updates
    assert all(torch.equal(state[k], stopped["state_dict"][k]) for k in stopped["state_dict"])
