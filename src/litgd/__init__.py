"""litgd: a PyTorch Lightning starter template for plain gradient descent with manual optimization."""
