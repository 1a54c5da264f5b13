"""Smoke test of benchmarks/beyond_windows.py --quick: tiny models on real slices, every report section present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "benchmarks" / "beyond_windows.py"


def shared_data_available() -> bool:
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    try:
        from shared_data import shared_data_dir

        return (shared_data_dir() / "physionet2012" / "physionet2012_seta_hourly.csv.gz").is_file()
    except FileNotFoundError:
        return False
    finally:
        sys.path.remove(str(REPOSITORY / "benchmarks"))


@pytest.mark.skipif(not shared_data_available(), reason="needs the shared real data sets")
def test_quick_run_reports_every_section_and_constraints_leave_no_violation(tmp_path):
    output = tmp_path / "beyond_windows_quick.json"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(output)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert {"seams", "static", "constraints", "missing"} <= set(report)

    seams = report["seams"]
    assert seams["join_positions"][0] == seams["window"]
    assert {
        "windows_centred_on_a_join",
        "first_window_of_long_sequences",
        "independent_single_windows",
        "real_vs_real_reference",
    } <= set(seams["comparisons"])
    for comparison in seams["comparisons"].values():
        assert {"autocorrelation_error", "discriminative_score"} <= set(comparison)
    assert {"at_joins_mean", "inside_continuation_chunks_mean", "real_mean"} <= set(seams["one_step_jumps_scaled"])
    assert "joins_distinguishable" in seams["verdict"]

    static = report["static"]
    assert static["given_static_returned_exactly"]
    assert all(static["static_constant_per_sequence"].values())
    assert {"real", "generated"} <= set(static["lengths"])
    assert all("same_sign" in row for row in static["per_column"])

    constraints = report["constraints"]
    assert constraints["violation_rate_constrained"]
    assert all(rate == 0.0 for rate in constraints["violation_rate_constrained"].values())
    assert constraints["max_violation_rate_constrained"] == 0.0
    assert {"unconstrained", "constrained"} <= set(constraints["fidelity"])

    missing = report["missing"]
    assert missing["nan_cells_with_missing_none"] == 0
    assert all("generated_rate_as_data" in row for row in missing["per_column"])
