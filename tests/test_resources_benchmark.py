"""Smoke test of benchmarks/resources.py --quick: every case runs in its own subprocess and reports its peak RSS."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_resources_quick(tmp_path):
    output = tmp_path / "resources.json"
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
        "TQDM_DISABLE": "1",
    }
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "resources.py"), "--quick", "--output", str(output)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["quick"] is True
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["total_ram_gb"] > 0
    cases = {case["name"]: case for case in report["cases"]}
    generation = [case for case in cases.values() if case["spec"]["kind"] == "generate"]
    assert {case["spec"]["output_type"] for case in generation} == {"np", "pd"}
    assert any(name.startswith("wide_300") for name in cases) and any(name.startswith("long_") for name in cases)
    for name, case in cases.items():
        assert case["returncode"] == 0, name
        peak = case["process_peak_rss_mb"]
        assert math.isfinite(peak) and peak > 0, name
        for phase in case["phases"].values():
            assert math.isfinite(phase["peak_rss_mb"]) and 0 < phase["peak_rss_mb"] <= peak, name
        if case["spec"]["kind"] == "prepare_model":
            continue
        assert case["generated_sequences"] == case["spec"]["num_sequences"], name
        assert case["output_mb"] > 0, name
        if case["spec"]["kind"] == "train_sample":
            assert case["sequence_length"] == case["spec"]["sequence_length"], name
            assert case["model_mb"] > 0, name
    wide = next(case for name, case in cases.items() if name.startswith("wide_300"))
    assert wide["table_columns"] == 300
