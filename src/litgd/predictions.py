"""`litgd predict` writes its predictions to `predictions.csv` in the run's folder.

Under data parallel each process predicts its own shard of the samples and writes
`predictions-rank<R>.csv`; the shards are contiguous, in rank order.
"""

from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter


class CSVPredictionWriter(BasePredictionWriter):
    """One row per sample and one column per output (``y_pred_0``, ``y_pred_1``, ...), in the data's order."""

    def __init__(self) -> None:
        super().__init__(write_interval="epoch")
        self.path: Path | None = None

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        rows = torch.cat([p.reshape(len(p), -1) for p in predictions]).float().cpu().numpy()
        name = "predictions.csv" if trainer.world_size == 1 else f"predictions-rank{trainer.global_rank}.csv"
        self.path = Path(trainer.log_dir or trainer.default_root_dir) / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = ",".join(f"y_pred_{i}" for i in range(rows.shape[1]))
        np.savetxt(self.path, rows, delimiter=",", header=header, comments="", fmt="%.9g")
        print(f"litgd: wrote {len(rows)} predictions to {self.path}")
