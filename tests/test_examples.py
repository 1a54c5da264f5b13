"""Smoke tests of the scripts in `examples/`: each runs on a tiny bike-sharing model and writes its files.

A fresh interpreter spends about 10 s of CPU importing `timeautodiff_hf` (diffusers, transformers), so the scripts
that need no special environment run one after the other in ONE child interpreter (each executed as `__main__` with
its own `sys.argv`; exit code and traceback recorded per script), offline. At the same time `hub_push_and_load.py`,
which sets `HF_ENDPOINT` before importing `huggingface_hub`, runs as a plain `python examples/...` process against
the stand-in Hub of `tests/hub_server.py`. `quickstart.py` is run by `make demo`, not here; the scripts' fallback
that trains a model when `--model` is not given (the same 5 lines in each, minutes of CPU at the default steps) is
not run here either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from timeautodiff_hf import BIKE_SHARING_SCHEMA, bike_sharing_path
from timeautodiff_hf.trainer import main as train
from timeautodiff_hf.trainer import parse_args

try:
    from .hub_server import HubServer
except ImportError:
    from hub_server import HubServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAST = ["--num-inference-steps", "2"]
# Runs each job's script as `__main__` in this interpreter and prints one JSON line of exit codes at the end.
RUNNER = """
import json, runpy, sys, traceback
jobs, results = json.loads(sys.argv[1]), {}
for name, argv in jobs.items():
    sys.argv = list(argv)
    try:
        runpy.run_path(argv[0], run_name="__main__")
        results[name] = 0
    except SystemExit as error:
        results[name] = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
        print(f"{name}: SystemExit({error.code!r})", file=sys.stderr)
    except Exception:
        print(f"{name} failed:", file=sys.stderr)
        traceback.print_exc()
        results[name] = 1
print("EXAMPLE_EXIT_CODES " + json.dumps(results))
"""
POPEN_OPTIONS = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}


def child_env(**extra: str) -> dict:
    # One thread per process: the suite shares 2 cores, where torch's thread pools spin against each other. The
    # caller's HF_* settings (token, endpoint, offline mode) are left out so that they cannot change what is tested.
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    return {**env, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HF_HUB_DISABLE_TELEMETRY": "1", **extra}


@pytest.fixture(scope="module")
def bike_model(tmp_path_factory) -> Path:
    """A tiny model of the bundled bike-sharing table (20 + 20 steps, a few seconds)."""
    output_dir = tmp_path_factory.mktemp("bike") / "model"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        flags = ["--train_file", bike_sharing_path(), "--time_column", BIKE_SHARING_SCHEMA["time_column"]]
        flags += ["--metadata_columns", ",".join(BIKE_SHARING_SCHEMA["metadata_columns"])]
        flags += ["--vae_steps", "20", "--denoiser_steps", "20", "--vae_hidden_size", "16"]
        flags += ["--denoiser_hidden_size", "16", "--denoiser_layers", "1", "--num_heads", "2", "--batch_size", "32"]
        train(parse_args([*flags, "--output_dir", str(output_dir)]))
    finally:
        torch.set_num_threads(threads)
    return output_dir


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("examples")


@pytest.fixture(scope="module")
def example_runs(bike_model, outputs) -> dict:
    """
    Run every example once on the tiny model and return `{job: (exit code, stderr, stdout, ...)}`: the local ones in
    one child interpreter, `hub_push_and_load.py` at the same time in its own process against a stand-in Hub.
    """
    model = ["--model", str(bike_model)]
    jobs = {
        "generate_unconditional": ["--num-sequences", "4"],
        "impute_with_uncertainty": ["--num-rows", "48", "--num-samples", "3"],
        "forecast_with_known_metadata": ["--history-hours", "48", "--num-samples", "3"],
        "what_if_metadata": ["--num-sequences", "3"],
        "evaluate_model": ["--max-windows", "24"],
    }
    argv = {
        name: [str(EXAMPLES / f"{name}.py"), *model, *args, *FAST, "--output-dir", str(outputs / name)]
        for name, args in jobs.items()
    }
    with HubServer() as server:
        hub_dir = outputs / "hub_push_and_load"
        hub = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLES / "hub_push_and_load.py"),
                *[*model, "--repo-id", "org/bike", "--endpoint", server.endpoint, *FAST],
                *["--cache-dir", str(hub_dir / "cache"), "--output-dir", str(hub_dir)],
            ],
            **POPEN_OPTIONS,
            env=child_env(HF_TOKEN="hf_stand_in", HF_HUB_CACHE=str(hub_dir / "default-cache")),
        )
        local = subprocess.Popen(
            [sys.executable, "-c", RUNNER, json.dumps(argv)], **POPEN_OPTIONS, env=child_env(HF_HUB_OFFLINE="1")
        )
        try:
            local_stdout, local_stderr = local.communicate(timeout=600)
            hub_stdout, hub_stderr = hub.communicate(timeout=300)
        finally:
            for process in (local, hub):
                if process.poll() is None:
                    process.kill()
        commits = [commit["message"] for commit in server.commits("org/bike")] if hub.returncode == 0 else []
        endpoint = server.endpoint
    marker = [line for line in local_stdout.splitlines() if line.startswith("EXAMPLE_EXIT_CODES ")]
    assert local.returncode == 0 and marker, local_stderr[-4000:]
    runs = {name: (code, local_stderr, local_stdout) for name, code in json.loads(marker[-1].split(" ", 1)[1]).items()}
    runs["hub_push_and_load"] = (hub.returncode, hub_stderr, hub_stdout, commits, endpoint)
    return runs


def assert_files(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        assert path.is_file() and path.stat().st_size > 0, f"{path} missing or empty; has {sorted(folder.iterdir())}"


def assert_ran(example_runs: dict, name: str) -> None:
    code, stderr = example_runs[name][:2]
    assert code == 0, f"{name} exited with {code}:\n{stderr[-4000:]}"


def test_generate_unconditional_writes_csv_and_real_vs_synthetic_png(example_runs, outputs):
    assert_ran(example_runs, "generate_unconditional")
    assert_files(outputs / "generate_unconditional", "synthetic.csv", "real_vs_synthetic.png")
    synthetic = pd.read_csv(outputs / "generate_unconditional" / "synthetic.csv")
    assert synthetic["sequence_id"].nunique() == 4 and {"datetime", "cnt", "weathersit"} <= set(synthetic.columns)


def test_impute_with_uncertainty_writes_point_estimate_draws_and_band_png(example_runs, outputs):
    assert_ran(example_runs, "impute_with_uncertainty")
    folder = outputs / "impute_with_uncertainty"
    assert_files(folder, "imputed.csv", "imputed_draws.csv", "imputation.png")
    estimate, draws = pd.read_csv(folder / "imputed.csv"), pd.read_csv(folder / "imputed_draws.csv")
    assert len(estimate) == 48 and not estimate.isna().any().any()
    assert len(draws) == 3 * 48 and sorted(draws["sample"].unique()) == [0, 1, 2]


def test_forecast_with_known_metadata_writes_paths_and_fan_chart(example_runs, outputs):
    assert_ran(example_runs, "forecast_with_known_metadata")
    folder = outputs / "forecast_with_known_metadata"
    assert_files(folder, "forecast.csv", "forecast.png")
    forecast = pd.read_csv(folder / "forecast.csv")
    assert len(forecast) == 3 * 24 and forecast["datetime"].nunique() == 24


def test_what_if_metadata_writes_hourly_means_of_both_scenarios(example_runs, outputs):
    assert_ran(example_runs, "what_if_metadata")
    folder = outputs / "what_if_metadata"
    assert_files(folder, "what_if_hourly_cnt.csv", "what_if.png")
    hourly = pd.read_csv(folder / "what_if_hourly_cnt.csv", index_col="hour")
    assert list(hourly.index) == list(range(24)) and hourly.shape[1] == 3 and not hourly.isna().any().any()


def test_evaluate_model_writes_report_and_plots(example_runs, outputs):
    assert_ran(example_runs, "evaluate_model")
    folder = outputs / "evaluate_model"
    assert_files(folder, "report.json", "marginals.png", "embedding.png")
    report = json.loads((folder / "report.json").read_text())
    assert {"discriminative_score", "discriminative_floor", "predictive_score_mae"} <= set(report["summary"])
    assert report["protocol"]["num_real_windows"] == report["protocol"]["num_synthetic_windows"] == 24


def test_hub_push_and_load_round_trips_through_the_stand_in_hub(example_runs, outputs):
    assert_ran(example_runs, "hub_push_and_load")
    _, _, stdout, commits, endpoint = example_runs["hub_push_and_load"]
    assert commits == ["initial commit", "Upload TimeAutoDiff pipeline"]
    assert f"commit: {endpoint}/org/bike/commit/" in stdout
    assert "identical samples" in stdout
    assert (outputs / "hub_push_and_load" / "cache" / "models--org--bike").is_dir()


def test_train_bike_sharing_model_saves_a_loadable_pipeline(tmp_path):
    from timeautodiff_hf import TimeAutoDiffPipeline, train_bike_sharing_model

    folder = train_bike_sharing_model(tmp_path / "model", vae_steps=2, denoiser_steps=2)
    pipe = TimeAutoDiffPipeline.from_pretrained(folder)
    assert pipe.processor.metadata_columns == [
        "holiday",
        "workingday",
        "weathersit",
        "temp",
        "atemp",
        "hum",
        "windspeed",
    ]
