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


def test_gpu_run_script_passes_the_device_and_counts_failed_jobs(tmp_path):
    """`benchmarks/gpu_run.sh` with a stand-in interpreter: which scripts it calls, with which flags, and that a
    failing data set is reported instead of stopping the others (the real run needs a GPU)."""
    calls = tmp_path / "calls.txt"
    stand_in = tmp_path / "python"
    stand_in.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        '[ "$1" = "-c" ] && { echo "torch stand-in"; exit 0; }\n'
        'case "$*" in *"--dataset metro"*) exit 3 ;; esac\n'
        "exit 0\n"
    )
    stand_in.chmod(0o755)
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_run.sh"), str(tmp_path / "out"), "MODEL", "bike", "metro"],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(stand_in)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "model_quality.py: 2 data sets, 1 failed or stopped" in result.stdout
    lines = calls.read_text().splitlines()
    speed = [line for line in lines if "speed.py" in line]
    assert len(speed) == 1 and "--model MODEL --device cuda" in speed[0]
    quality = sorted(line for line in lines if "model_quality.py" in line)
    assert len(quality) == 2
    for dataset, line in zip(["bike", "metro"], quality):
        assert f"--dataset {dataset} --device cuda" in line
        assert f"quality_{dataset}_cuda.json" in line
