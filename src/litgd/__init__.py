"""litgd: a PyTorch Lightning starter template for plain gradient descent with manual optimization."""

__version__ = "0.1.0"
