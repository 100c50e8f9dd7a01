"""Histograms and figures for whichever TensorBoard loggers a run has (CSV and others have neither)."""

import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger


def writers(loggers: list[Logger]) -> list:
    return [logger.experiment for logger in loggers if isinstance(logger, TensorBoardLogger)]


def add_histogram(loggers: list[Logger], tag: str, values: torch.Tensor, step: int, bins: int = 64) -> None:
    """Binned with torch, written with TensorBoard's raw API: its own ``add_histogram`` sums squares with
    numpy's BLAS, whose idle threads then spin for ~100 steps and slowed training by 15% (measured)."""
    values = values.detach().flatten().double()
    values = values[values.isfinite()]
    if values.numel() == 0:
        return
    low, high = values.min().item(), values.max().item()
    high = high if high > low else low + 1e-12
    limits = torch.linspace(low, high, bins + 1)[1:].tolist()
    counts = torch.histc(values, bins, low, high).tolist()
    for writer in writers(loggers):
        writer.add_histogram_raw(
            tag, low, high, values.numel(), values.sum().item(), values.pow(2).sum().item(), limits, counts, step
        )
