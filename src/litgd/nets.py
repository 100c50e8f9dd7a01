"""The networks: plain ``nn.Module``s holding only the math. Training policy lives in ``system.py``."""

import torch
from torch import nn


class TwoLayerReLU(nn.Module):
    """The seed notebook's network, ``relu(x @ w1) @ w2``, with no biases.

    Weights are drawn like the seed's ``torch.randn`` (standard normal), not with ``nn.Linear``'s
    fan-in scaling: the seed's learning rate of 1e-6 is tuned for these magnitudes.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(input_dim, hidden_dim))
        self.w2 = nn.Parameter(torch.randn(hidden_dim, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, D_in) @ (D_in, H) -> (N, H) -> relu -> (N, H) @ (H, D_out) -> (N, D_out)
        return x.mm(self.w1).relu().mm(self.w2)


class LinearRegression(nn.Module):
    """``y = a + b·x``: the bias is ``a`` and the weight is ``b``."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
