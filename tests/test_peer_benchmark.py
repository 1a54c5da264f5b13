"""Smoke test of the peer-benchmark scoring (`benchmarks/compare_peers.py`) on tiny fake peer outputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from timeautodiff_hf import TimeAutoDiffProcessor

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def compare_peers():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("compare_peers", BENCHMARKS / "compare_peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_table(num_rows: int = 480, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = np.arange(num_rows)
    level = 10 + 5 * np.sin(2 * np.pi * hours / 24)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=num_rows, freq="h"),
            "load": level + rng.normal(0, 0.5, num_rows),
            "temp": 3 * np.cos(2 * np.pi * hours / 24) + rng.normal(0, 0.3, num_rows),
            "mode": np.where(np.sin(2 * np.pi * hours / 24) > 0, "day", "night"),
        }
    )


def as_windows(frame: pd.DataFrame, length: int, columns: list[str]) -> pd.DataFrame:
    count = len(frame) // length
    windows = frame.iloc[: count * length][columns].reset_index(drop=True)
    windows.insert(0, "sequence_id", np.repeat(np.arange(count), length))
    return windows


def test_scoring_ranks_real_data_above_noise(compare_peers, tmp_path):
    table = fake_table()
    schema = {"time_column": "time", "metadata_columns": ["temp"]}
    processor = TimeAutoDiffProcessor(sequence_length=12, **schema).fit(table)
    train, test = table.iloc[:240], table.iloc[240:].reset_index(drop=True)
    task = compare_peers.make_task(
        train, test, schema, processor, tmp_path / "task", dataset="fake", num_windows=20, num_origins=4, horizon=12
    )
    assert task["targets"] == ["load"] and len(task["origins"]) == 4
    hidden = pd.read_parquet(tmp_path / "task" / "hidden_mask.parquet")
    assert hidden["load"].sum() > 0

    rng = np.random.default_rng(1)
    columns = processor.column_names
    noise = test.copy()
    noise["load"] = rng.normal(0, 20, len(test))
    noise["temp"] = rng.normal(0, 20, len(test))
    noise["mode"] = rng.choice(["day", "night"], len(test))
    series = pd.read_parquet(tmp_path / "task" / "forecast_series.parquet")
    outputs = tmp_path / "outputs"
    for name, source in (("perfect", test), ("noise", noise)):
        folder = outputs / name
        folder.mkdir(parents=True)
        as_windows(source, 12, columns).to_parquet(folder / "synthetic.parquet", index=False)
        imputed = test.copy()
        imputed["load"] = np.where(hidden["load"], source["load"], test["load"])
        imputed.to_parquet(folder / "imputed.parquet", index=False)
        truth_source = series if name == "perfect" else noise
        forecast = pd.concat(
            [
                pd.DataFrame(
                    {"origin": origin, "step": np.arange(12), "load": truth_source["load"].iloc[origin : origin + 12]}
                )
                for origin in task["origins"]
            ]
        )
        forecast.to_parquet(folder / "forecast.parquet", index=False)
        (folder / "timing.json").write_text(
            json.dumps({"tasks": {"generation": {"train_seconds": 1.0, "sample_seconds": 0.5}}, "peak_rss_mb": 10})
        )
    (outputs / "broken").mkdir()
    (outputs / "broken" / "timing.json").write_text(json.dumps({"status": "failed", "error": "ImportError: x"}))

    report = compare_peers.score_run(tmp_path, processor, repeats=1, steps=30, reference_rows=False)
    assert {"dataset", "protocol", "results", "failures", "versions", "num_hidden_cells", "num_origins"} <= set(report)
    assert report["failures"] == {"broken": "ImportError: x"} and report["horizon"] == 12
    rows = {(row["method"], row["task"]): row for row in report["results"]}
    tasks = ("generation", compare_peers.TRAINING_PERIOD, "imputation", "forecast")
    assert set(rows) == {(m, t) for m in ("perfect", "noise") for t in tasks}
    generation = rows["perfect", "generation"]
    assert {"discriminative_score", "autocorrelation_error", "marginal_distance", "correlation_distance"} <= set(
        generation
    )
    assert generation["train_seconds"] == 1.0 and generation["peak_rss_mb"] == 10
    for metric in ("marginal_distance", "autocorrelation_error", "correlation_distance"):
        assert generation[metric] < rows["noise", "generation"][metric]
        # Scored against the training period too (what every generator was fitted to).
        assert (
            rows["perfect", compare_peers.TRAINING_PERIOD][metric]
            < rows["noise", compare_peers.TRAINING_PERIOD][metric]
        )
    # the training-period score also holds out whole time blocks (no credit for recognising near-copies)
    held_out = "discriminative_score_held_out_blocks"
    assert held_out not in generation
    assert (
        rows["perfect", compare_peers.TRAINING_PERIOD][held_out]
        < rows["noise", compare_peers.TRAINING_PERIOD][held_out]
    )
    assert rows["perfect", "imputation"]["normalised_mae"] == 0.0 < rows["noise", "imputation"]["normalised_mae"]
    assert rows["perfect", "forecast"]["normalised_mae"] == 0.0 < rows["noise", "forecast"]["normalised_mae"]

    with_references = compare_peers.score_run(tmp_path, processor, repeats=1, steps=30)
    references = {row["method"]: row for row in with_references["results"] if row["method"].startswith("reference")}
    real_other_blocks = references["reference: real training windows (other blocks)"]
    assert real_other_blocks["task"] == compare_peers.TRAINING_PERIOD
    shuffled = references["reference: row-shuffled training table"]
    assert real_other_blocks["autocorrelation_error"] < shuffled["autocorrelation_error"]
    assert 0.0 <= real_other_blocks["discriminative_score_held_out_blocks"] <= 0.5

    compare_peers.plot_report(report, tmp_path / "peers.png")
    assert (tmp_path / "peers.png").stat().st_size > 0


def test_spaced_reference_windows_share_no_row_and_come_from_odd_blocks(compare_peers):
    table = fake_table(num_rows=600)
    processor = TimeAutoDiffProcessor(sequence_length=12, time_column="time").fit(table)
    batch, blocks = compare_peers.training_window_batch(processor, table)
    picked = compare_peers.spaced_window_indices(batch["row_index"], blocks, len(table), count=1000)
    assert len(picked) > 5 and np.all(np.diff(picked) > 0)
    assert (blocks[picked] % 2 == 1).all()
    rows = batch["row_index"][picked].ravel()
    assert len(np.unique(rows)) == len(rows)  # no row in two reference windows
    assert len(compare_peers.spaced_window_indices(batch["row_index"], blocks, len(table), count=3)) == 3
    features = compare_peers.spaced_reference_windows(processor, table, count=1000)
    assert features.shape[0] == len(picked)


def test_panel_forecast_task_keeps_every_origin_inside_one_entity(compare_peers, tmp_path):
    first, second = fake_table(num_rows=120, seed=0), fake_table(num_rows=120, seed=1)
    first["site"], second["site"] = "a", "b"
    second["load"] += 100.0  # a level no history of site a has: crossing entities would show
    table = pd.concat([first, second], ignore_index=True)
    schema = {"time_column": "time", "entity_column": "site"}
    processor = TimeAutoDiffProcessor(sequence_length=12, **schema).fit(table)
    train = table.groupby("site").head(60)
    test = table.drop(train.index).reset_index(drop=True)
    common = dict(dataset="fake", num_windows=5, num_origins=3, horizon=12, context=12)
    only_first = compare_peers.make_task(train, test, schema, processor, tmp_path / "first", **common)
    task = compare_peers.make_task(
        train, test, schema, processor, tmp_path / "task", forecast_entities="all", **common
    )
    assert len(only_first["origins"]) == 3 and len(task["origins"]) == 6
    assert task["forecast_entities"] == "all" and "every entity" in task["protocol"]
    series = pd.read_parquet(tmp_path / "task" / "forecast_series.parquet")
    assert list(series["site"].unique()) == ["a", "b"]
    for origin in task["origins"]:
        span = series.iloc[origin - task["context"] : origin + task["horizon"]]
        assert span["site"].nunique() == 1 and span["time"].is_monotonic_increasing

    spec = importlib.util.spec_from_file_location("run_peers", BENCHMARKS / "peers" / "run_peers.py")
    run_peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_peers)
    histories = run_peers.origin_histories(run_peers.Task(tmp_path))
    assert set(histories) == set(task["origins"])
    for origin, (history, end, num_train) in histories.items():
        site = series["site"].iloc[origin]
        assert num_train == 60 and (history["site"] == site).all()
        # the history ends right before the origin: the entity's training part, then its test rows up to the origin
        assert history["time"].iloc[end - 1] == series["time"].iloc[origin - 1]
        assert history["time"].is_monotonic_increasing
    forecast = run_peers.run_seasonal_naive(run_peers.Task(tmp_path), 0.0, 0)[0]["forecast"]
    for origin in task["origins"]:  # a season of the origin's own entity: site b's level is 100 higher
        predicted = forecast.loc[forecast["origin"] == origin, "load"].to_numpy()
        last_season = series["load"].iloc[origin - task["seasonal_period"] : origin].to_numpy()
        assert np.array_equal(predicted, np.resize(last_season, task["horizon"]))
    # ours reads the same history as AutoETS: the origin's own entity, training part first, up to the origin
    ours = compare_peers.forecast_histories(task, train, series)
    for origin, history in ours.items():
        site = series["site"].iloc[origin]
        expected, end, _ = histories[origin]
        assert (history["site"] == site).all() and history["time"].is_monotonic_increasing
        assert history["time"].iloc[-1] == series["time"].iloc[origin - 1]
        length = min(end, compare_peers.FORECAST_HISTORY_SEASONS * task["seasonal_period"])
        assert len(history) == length and history["time"].iloc[0] == expected["time"].iloc[end - length]
    with pytest.raises(ValueError, match="forecast_entities"):
        compare_peers.make_task(train, test, schema, processor, tmp_path / "x", forecast_entities="each", **common)


def test_a_peer_killed_before_recording_is_reported_failed_not_read_from_an_earlier_run(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("run_peers_killed", BENCHMARKS / "peers" / "run_peers.py")
    run_peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_peers)
    stale = tmp_path / "outputs" / "saits"
    stale.mkdir(parents=True)
    (stale / "timing.json").write_text(json.dumps({"method": "saits", "status": "ok"}))  # an earlier run's record
    monkeypatch.setattr(
        run_peers.subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, returncode=-9)
    )
    monkeypatch.setattr(sys, "argv", ["run_peers.py", "--run-dir", str(tmp_path), "--peers", "saits"])
    run_peers.main()
    summary = json.loads((tmp_path / "outputs" / "run_peers.json").read_text())
    assert summary["peers"]["saits"]["status"] == "failed"
    assert "code -9 without writing timing.json" in summary["peers"]["saits"]["error"]
