"""Smoke test of the benchmark harness: one `--quick` run of the model-quality benchmark on the bundled data."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_quality_benchmark_runs_and_reports_every_task(tmp_path):
    output = tmp_path / "quality.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "model_quality.py"),
        "--dataset",
        "bike",
        "--quick",
        "--run-dir",
        str(tmp_path / "run"),
        "--output",
        str(output),
        "--num-windows",
        "100",
        "--inference-steps",
        "3",
        "--extra-train-flags",
        "--vae_hidden_size 16 --denoiser_hidden_size 16 --denoiser_layers 1 --num_heads 2",
    ]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    report = json.loads(output.read_text())
    assert report["generation"]["all_values_valid"] is True
    assert report["imputation"]["observed_cells_unchanged"] is True
    for task in ("generation", "imputation", "forecast", "conditioning"):
        assert task in report
    assert set(report["forecast"]["normalised_mae"]) >= {"model", "seasonal_naive", "last_value"}
