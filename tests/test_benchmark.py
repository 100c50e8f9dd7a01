import json
import subprocess
import sys

import pytest
from conftest import ENV, ROOT


@pytest.mark.slow
def test_benchmark_runs_and_reports_every_loop():
    """A handful of steps so that scripts/benchmark.py cannot rot; no timing is asserted."""
    args = ["--sizes", "8x16x8x4", "--steps", "25", "--warmup", "5", "--repeats", "1", "--json", "--no-start-up"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/benchmark.py"), *args], capture_output=True, text=True, env=ENV,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert [row["loop"] for row in report["rows"]] == ["bare", "minimal", "project"]
    assert all(row["ms_per_step"] > 0 and row["gflops"] > 0 for row in report["rows"])
    assert report["rows"][2]["vs_minimal"] == pytest.approx(
        report["rows"][2]["ms_per_step"] / report["rows"][1]["ms_per_step"]
    )
