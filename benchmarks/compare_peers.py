"""Side-by-side comparison of TimeAutoDiff with peer models on the protocol of `model_quality.py`.

Three steps (the peers run in their own venv, see `benchmarks/peers/README.md`):

    python benchmarks/compare_peers.py prepare --dataset bike            # task files: split, hidden cells, origins
    benchmarks/runs/peers-venv/bin/python benchmarks/peers/run_peers.py --run-dir benchmarks/runs/peers/bike
    python benchmarks/compare_peers.py score --dataset bike              # our outputs + one scoring harness

`prepare` writes `RUN_DIR/task/`: the time split of `model_quality.py` (first 80 % per entity for training), the
hidden-cell mask of its imputation test (10 % of the observed continuous non-metadata test cells, seed 1, the same
cells as `model_quality.py`), the forecast origins (24 -> 24 on the regular grid of the test part: of a panel's first
entity, or of every entity with `--forecast-entities all`) and the number of generated windows. Every method writes
files to `RUN_DIR/outputs/METHOD/`: `synthetic.parquet` (long table with a `sequence_id` column), `imputed.parquet`
(the test table with the hidden cells filled), `forecast.parquet` (`origin`, `step` and the target columns) and
`timing.json` (train/sample seconds, peak RSS, versions).
`score` produces TimeAutoDiff's outputs in a subprocess (so its peak RSS is its own), then scores every method with
`timeautodiff_hf.metrics` and writes `benchmarks/results/peers_DATASET.json` and `.png`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "peers"))

from model_quality import continuous_targets, forecast_origins, hidden_cells  # noqa: E402
from run_peers import HISTORY_SEASONS as FORECAST_HISTORY_SEASONS  # noqa: E402
from run_peers import entity_histories  # noqa: E402

from timeautodiff_hf.metrics import (  # noqa: E402
    autocorrelation_error,
    correlation_distance,
    discriminative_score,
    marginal_distances,
    masked_mae,
)

OURS = "timeautodiff"
TRAINING_PERIOD = "generation (training period)"
SEQUENCE_ID = "sequence_id"
FORECAST_ENTITIES = ("first", "all")  # a panel's forecast series: its first entity's test part, or every entity's


# ---------------------------------------------------------------------------------------------------- task files
def hidden_cell_mask(test: pd.DataFrame, processor) -> pd.DataFrame:
    """The cells `model_quality.evaluate_imputation` hides, as a boolean frame (one column per target)."""
    return pd.DataFrame(hidden_cells(test, processor))


def make_task(
    train: pd.DataFrame,
    test: pd.DataFrame,
    schema: dict,
    processor,
    task_dir: Path,
    *,
    dataset: str,
    num_windows: int = 1000,
    num_origins: int = 40,
    horizon: int = 24,
    context: int = 24,
    forecast_entities: str = "first",
) -> dict:
    """
    Writes the task files every method reads (see the module docstring); returns `task.json`'s content.

    `forecast_entities="all"` (panels) forecasts every entity's test part, up to `num_origins` origins each: the
    forecast series is then the entities' test parts one after the other, and no origin's history or future crosses
    from one entity into the next. `"first"` (the default, and the tables of sessions 3-10) uses the first entity's.
    """
    if forecast_entities not in FORECAST_ENTITIES:
        raise ValueError(f"`forecast_entities` must be one of {FORECAST_ENTITIES}, got {forecast_entities!r}.")
    task_dir.mkdir(parents=True, exist_ok=True)
    train.reset_index(drop=True).to_parquet(task_dir / "train.parquet", index=False)
    test = test.reset_index(drop=True)
    test.to_parquet(task_dir / "test.parquet", index=False)
    hidden_cell_mask(test, processor).to_parquet(task_dir / "hidden_mask.parquet", index=False)
    entity = schema.get("entity_column")
    parts = [test] if not entity else [part for _, part in test.groupby(entity, sort=False)]
    if forecast_entities == "first":
        parts = parts[:1]
    if schema.get("time_column"):
        parts = [part.sort_values(schema["time_column"]) for part in parts]
    origins, offset = [], 0
    for part in parts:
        part_origins, period = forecast_origins(
            part.reset_index(drop=True), processor, schema, num_origins, horizon, context
        )
        origins += [offset + origin for origin in part_origins]
        offset += len(part)
    series = pd.concat(parts, ignore_index=True)
    series.to_parquet(task_dir / "forecast_series.parquet", index=False)
    task = {
        "dataset": dataset,
        "schema": schema,
        "sequence_length": int(processor.sequence_length),
        "frequency": str(processor.frequency),
        "columns": [
            {"name": c["name"], "kind": c["kind"], "role": c["role"], "dtype": str(c.get("dtype"))}
            for c in processor.columns
        ],
        "targets": continuous_targets(processor),
        "missing_values": {k: list(v) for k, v in processor.missing_values.items()},
        "num_windows": int(num_windows),
        "origins": origins,
        "horizon": horizon,
        "context": context,
        "seasonal_period": period,
        "forecast_entities": forecast_entities,
        "hidden_mask_seed": 1,
        "protocol": "time split 80/20 per entity; 10 % of observed continuous target test cells hidden (seed 1); "
        f"{horizon}->{horizon} forecasts from {len(origins)} origins of the test part"
        + (" of every entity" if forecast_entities == "all" and entity else "")
        + "; MAE / training std",
    }
    (task_dir / "task.json").write_text(json.dumps(task, indent=2))
    return task


def command_prepare(options) -> None:
    from model_quality import time_split
    from shared_data import load

    from timeautodiff_hf import TimeAutoDiffPipeline, TimeAutoDiffProcessor

    table, schema, _, _ = load(options.dataset)
    train, test = time_split(table, schema)
    if (model_dir(options) / "model_index.json").is_file():
        processor = TimeAutoDiffPipeline.from_pretrained(model_dir(options)).processor
    else:  # no model yet: the task only needs the schema, fitted on the training part as the training script does
        processor = TimeAutoDiffProcessor(**schema, sequence_length=24).fit(train)
    task = make_task(
        train,
        test,
        schema,
        processor,
        run_dir(options) / "task",
        dataset=options.dataset,
        num_windows=options.num_windows,
        num_origins=options.num_origins,
        horizon=options.horizon,
        context=options.context,
        forecast_entities=options.forecast_entities,
    )
    if not task["origins"]:
        raise SystemExit(
            f"no forecast origin fits {options.context} context + {options.horizon} horizon steps (or a season of "
            f"history) in the forecast series ({'every' if options.forecast_entities == 'all' else 'the first'} "
            "entity's test part); lower --horizon."
        )
    print(f"task written to {run_dir(options) / 'task'}: {len(task['origins'])} origins, targets {task['targets']}")


# ---------------------------------------------------------------------------------------------------- our outputs
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def command_ours(options) -> None:
    """TimeAutoDiff's outputs for the task, in the peers' file format (run as its own process for its peak RSS)."""
    import torch
    from diffusers import DPMSolverMultistepScheduler

    from timeautodiff_hf import TimeAutoDiffPipeline

    torch.set_num_threads(1)
    task_dir = run_dir(options) / "task"
    task = json.loads((task_dir / "task.json").read_text())
    out = run_dir(options) / "outputs" / OURS
    out.mkdir(parents=True, exist_ok=True)
    pipe = TimeAutoDiffPipeline.from_pretrained(model_dir(options))
    # `sde-dpm`: the stochastic DPM-Solver++, better than the deterministic one on longer-trained models (session 8)
    algorithm = "sde-dpmsolver++" if options.sampler == "sde-dpm" else "dpmsolver++"
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type=algorithm)
    pipe.set_progress_bar_config(disable=True)
    steps = options.inference_steps
    targets = task["targets"]
    timing = {"method": OURS, "tasks": {}}
    record = json.loads((model_dir(options) / "training_args.json").read_text())
    train_seconds = record.get("train_seconds")

    started = time.perf_counter()
    synthetic = pipe.generate(
        num_sequences=task["num_windows"], num_inference_steps=steps, generator=torch.Generator().manual_seed(0)
    )
    timing["tasks"]["generation"] = {"train_seconds": train_seconds, "sample_seconds": time.perf_counter() - started}
    synthetic.to_parquet(out / "synthetic.parquet", index=False)

    test = pd.read_parquet(task_dir / "test.parquet")
    hidden = pd.read_parquet(task_dir / "hidden_mask.parquet")
    holes = test.copy()
    for name in targets:
        holes[name] = holes[name].astype(float).mask(hidden[name].to_numpy())
    started = time.perf_counter()
    filled = pipe.impute(holes, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
    timing["tasks"]["imputation"] = {"train_seconds": train_seconds, "sample_seconds": time.perf_counter() - started}
    filled.to_parquet(out / "imputed.parquet", index=False)

    series = pd.read_parquet(task_dir / "forecast_series.parquet")
    frames, seconds = our_forecasts(pipe, task, series, steps, pd.read_parquet(task_dir / "train.parquet"))
    for kind, frame in frames.items():
        frame.to_parquet(out / f"{kind}.parquet", index=False)
        timing["tasks"][kind] = {"train_seconds": train_seconds, "sample_seconds": seconds[kind]}
    import timeautodiff_hf

    timing["peak_rss_mb"] = peak_rss_mb()
    timing["peak_rss_scope"] = "inference process (loading + all three tasks); training RSS was not recorded"
    timing["versions"] = {"timeautodiff_hf": timeautodiff_hf.__version__, "torch": torch.__version__}
    sampler = "stochastic DPM-Solver++" if options.sampler == "sde-dpm" else "DPM-Solver++"
    timing["settings"] = (
        f"{sampler} {steps} steps; forecasts: median of 10 sample paths, the model reading the last {task['context']} "
        f"steps and the forecast calibration's baselines the last {FORECAST_HISTORY_SEASONS} seasons (as AutoETS)"
    )
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
    print(json.dumps(timing, indent=2))


def forecast_histories(task: dict, train: pd.DataFrame, series: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """
    For every forecast origin, the rows a forecaster may read (`run_peers.entity_histories`: its own entity, training
    part first), the last `FORECAST_HISTORY_SEASONS` seasons of them, as AutoETS reads them (the task's context when
    it has no season). Sentinels are kept.
    """
    length = max(task["context"], FORECAST_HISTORY_SEASONS * (task.get("seasonal_period") or 0))
    histories = entity_histories(train, series, task["schema"], task["origins"])
    return {origin: rows.iloc[max(0, end - length) : end] for origin, (rows, end, _) in histories.items()}


def our_forecasts(pipe, task: dict, series: pd.DataFrame, steps: int, train: pd.DataFrame) -> tuple[dict, dict]:
    """
    Median of 10 forecast paths from every origin of the task, without and (when the model has metadata columns)
    with the known future metadata: `({kind: frame with origin, step and the targets}, {kind: seconds})`. The
    model reads the last `context` steps of each origin's history, its forecast calibration's baselines all of it
    (`forecast_histories`).
    """
    import torch

    schema, targets = task["schema"], task["targets"]
    horizon = task["horizon"]
    group_key = schema.get("time_column") or "step"
    frames = {"forecast": [], "forecast_known_future_metadata": []}
    seconds = {"forecast": 0.0, "forecast_known_future_metadata": 0.0}
    histories = forecast_histories(task, train, series)
    for index, origin in enumerate(task["origins"]):
        history = histories[origin]
        truth = series.iloc[origin : origin + horizon]
        variants = {"forecast": None}
        if pipe.processor.metadata_columns:
            keys = [c for c in [schema.get("time_column"), schema.get("entity_column")] if c]
            variants["forecast_known_future_metadata"] = truth[keys + pipe.processor.metadata_columns]
        for kind, future in variants.items():
            started = time.perf_counter()
            samples = pipe.forecast(
                history,
                horizon=horizon,
                metadata_future=future,
                num_samples=10,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(index),
            )
            median = samples.groupby(group_key, sort=True)[targets].median().reset_index(drop=True)
            seconds[kind] += time.perf_counter() - started
            median.insert(0, "step", np.arange(len(median)))
            median.insert(0, "origin", origin)
            frames[kind].append(median)
    return {kind: pd.concat(parts, ignore_index=True) for kind, parts in frames.items() if parts}, seconds


# ---------------------------------------------------------------------------------------------------- scoring
def windows_to_features(frame: pd.DataFrame, processor, sequence_length: int) -> tuple[np.ndarray, int]:
    """Long table with `sequence_id` -> feature-space windows; windows of another length are dropped (counted)."""
    columns = processor.column_names
    sizes = frame.groupby(SEQUENCE_ID, sort=True).size()
    keep = sizes.index[sizes == sequence_length]
    frame = frame[frame[SEQUENCE_ID].isin(keep)].sort_values(SEQUENCE_ID, kind="stable")
    values, mask = processor.encode_cells(frame[columns].reset_index(drop=True))
    shape = (len(keep), sequence_length, len(columns))
    return processor.to_features(values.reshape(shape), mask.reshape(shape)), int((sizes != sequence_length).sum())


def test_window_features(processor, table: pd.DataFrame, count: int, seed: int = 0) -> np.ndarray:
    batch = processor.encode(table, stride=1)
    features = processor.to_features(batch["values"], batch["observed_mask"])
    rng = np.random.default_rng(seed)
    return features[rng.choice(len(features), min(count, len(features)), replace=False)]


def training_window_batch(processor, train: pd.DataFrame, block_windows: int = 10) -> tuple[dict, np.ndarray]:
    """
    All stride-1 windows of the training part (`processor.encode`'s batch) and the block each ends in: blocks of
    `block_windows * sequence_length` rows (fewer for a short table, so that it has about 20 blocks, but never fewer
    than a window's).
    """
    batch = processor.encode(train, stride=1)
    length = processor.sequence_length
    blocks = batch["row_index"].max(axis=1) // min(block_windows * length, max(length, len(train) // 20))
    return batch, blocks


def training_windows_with_blocks(processor, train: pd.DataFrame, block_windows: int = 10) -> tuple:
    """The windows of `training_window_batch` in feature space, their row positions, and their blocks."""
    batch, blocks = training_window_batch(processor, train, block_windows)
    return processor.to_features(batch["values"], batch["observed_mask"]), batch["row_index"], blocks


def training_period_windows(processor, train: pd.DataFrame, count: int, block_windows: int = 10) -> tuple:
    """
    Two disjoint sets of real training-period windows, `count` each, as `((windows, blocks), (windows, blocks))`:
    windows ending in even vs odd blocks (`training_windows_with_blocks`), interleaved in time, so both cover the
    whole training period and neighbouring, nearly identical stride-1 windows never land in both. The first is the
    reference every generator is scored against (it is the distribution they were all fitted to); the second, scored
    against the first, shows what real data of that period reaches. The block numbers let the discriminative score
    hold out whole blocks (`generation_scores`).
    """
    features, _, blocks = training_windows_with_blocks(processor, train, block_windows)
    rng = np.random.default_rng(4)
    sets = []
    for parity in (0, 1):
        candidates = np.flatnonzero(blocks % 2 == parity)
        picked = rng.choice(candidates, min(count, len(candidates)), replace=False)
        sets.append((features[picked], blocks[picked]))
    return sets[0], sets[1]


def spaced_reference_windows(processor, train: pd.DataFrame, count: int, block_windows: int = 10) -> np.ndarray:
    """
    Up to `count` windows of the odd blocks of `training_period_windows` that do not overlap each other, at random
    phases (windows that all start at the same hour of the day are told apart at once): the real-vs-real reference
    for the held-out-block score. A generator's windows are independent draws, so the classifier never meets a
    near-copy of a synthetic test window among its training windows; overlapping stride-1 windows on the reference
    side would hand it such near-copies and raise the floor.
    """
    features, rows, blocks = training_windows_with_blocks(processor, train, block_windows)
    return features[spaced_window_indices(rows, blocks, len(train), count)]


def spaced_window_indices(rows: np.ndarray, blocks: np.ndarray, num_rows: int, count: int) -> np.ndarray:
    """Indices of up to `count` windows of odd blocks sharing no row, in a seeded random order, sorted."""
    taken = np.zeros(num_rows, dtype=bool)
    picked = []
    for window in np.random.default_rng(5).permutation(np.flatnonzero(blocks % 2 == 1)):
        steps = rows[window][rows[window] >= 0]
        if not taken[steps].any():  # greedy: keep a window only if it shares no row with one already kept
            taken[steps] = True
            picked.append(window)
            if len(picked) == count:
                break
    return np.sort(np.asarray(picked, dtype=int))


def generation_scores(
    real: np.ndarray,
    synthetic: np.ndarray,
    layout: list[dict],
    repeats: int,
    steps: int,
    real_blocks: np.ndarray | None = None,
) -> dict:
    """
    Generation metrics of `synthetic` against `real`. With `real_blocks` (the time block of every real window) the
    discriminative score is also computed with whole blocks held out of the classifier's training windows
    (`discriminative_score_held_out_blocks`): overlapping stride-1 real windows have near-copies in their own block,
    so the random split of the usual protocol also rewards recognising them, which no generator can match.
    """
    discriminative = discriminative_score(real, synthetic, num_repeats=repeats, num_steps=steps)
    scores = {
        "discriminative_score": discriminative["mean"],
        "discriminative_score_std": discriminative["std"],
    }
    if real_blocks is not None and len(np.unique(real_blocks)) > 1:
        held_out = discriminative_score(
            real,
            synthetic,
            num_repeats=repeats,
            num_steps=steps,
            real_groups=real_blocks,
        )
        scores["discriminative_score_held_out_blocks"] = held_out["mean"]
        scores["discriminative_score_held_out_blocks_std"] = held_out["std"]
    return {
        **scores,
        "autocorrelation_error": float(autocorrelation_error(real, synthetic, layout=layout)["mean"]),
        "marginal_distance": float(marginal_distances(real, synthetic, layout)["mean"]),
        "correlation_distance": float(correlation_distance(real, synthetic, layout)["distance"]),
    }


def without_sentinels(frame: pd.DataFrame, missing_values: dict) -> pd.DataFrame:
    """A copy of `frame` with each column's missing-value sentinels replaced by NaN."""
    frame = frame.copy()
    for name, sentinels in missing_values.items():
        if sentinels and name in frame.columns:
            frame[name] = frame[name].mask(frame[name].isin(sentinels))
    return frame


def column_scales(train: pd.DataFrame, targets: list[str]) -> dict:
    return {name: float(pd.to_numeric(train[name], errors="coerce").std()) or 1.0 for name in targets}


def imputation_score(imputed: pd.DataFrame, test: pd.DataFrame, hidden: pd.DataFrame, scales: dict) -> float:
    errors = []
    for name, scale in scales.items():
        mask = hidden[name].to_numpy()
        if not mask.any():  # e.g. a column missing throughout the test period
            continue
        prediction = pd.to_numeric(imputed[name], errors="coerce").to_numpy(float)
        truth = pd.to_numeric(test[name], errors="coerce").to_numpy(float)
        errors.append(masked_mae(np.nan_to_num(prediction, nan=np.inf), truth, mask) / scale)
    return float(np.mean(errors))


def forecast_score(forecast: pd.DataFrame, series: pd.DataFrame, task: dict, scales: dict) -> float:
    """Mean over origins and target columns of MAE / training std, as in `model_quality.evaluate_forecast`."""
    errors = []
    horizon = task["horizon"]
    for origin in task["origins"]:
        truth = series.iloc[origin : origin + horizon]
        predicted = forecast[forecast["origin"] == origin].sort_values("step")
        if len(predicted) != horizon:
            raise ValueError(f"forecast for origin {origin} has {len(predicted)} steps, expected {horizon}")
        for name, scale in scales.items():
            true_values = truth[name].astype(float).to_numpy()
            if np.isnan(true_values).all():
                continue
            errors.append(np.nanmean(np.abs(predicted[name].astype(float).to_numpy() - true_values)) / scale)
    return float(np.mean(errors))


def read_timing(folder: Path) -> dict:
    path = folder / "timing.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def score_run(run: Path, processor, *, repeats: int = 3, steps: int = 400, reference_rows: bool = True) -> dict:
    """Scores every method folder under `run/outputs` against the task in `run/task`; returns the report."""
    task_dir = run / "task"
    task = json.loads((task_dir / "task.json").read_text())
    train = pd.read_parquet(task_dir / "train.parquet")
    test = pd.read_parquet(task_dir / "test.parquet")
    hidden = pd.read_parquet(task_dir / "hidden_mask.parquet")
    series = pd.read_parquet(task_dir / "forecast_series.parquet")
    layout = processor.feature_layout()
    length = task["sequence_length"]
    # Errors are scored on the values, with missing-value sentinels (AirQuality's -200) as missing cells.
    train_values, test_values, series_values = (
        without_sentinels(frame, task.get("missing_values", {})) for frame in (train, test, series)
    )
    scales = column_scales(train_values, task["targets"])
    real = test_window_features(processor, test, task["num_windows"])
    # Generation is scored twice: against the test period (generalisation to a later period, which saturates when
    # the test period drifts, e.g. bike sharing's second year) and against held-back windows of the training period
    # every method was fitted to (the usual discriminative-score protocol).
    (real_train, train_blocks), (real_train_other, _) = training_period_windows(processor, train, task["num_windows"])
    rows, failures, versions = [], {}, {}

    def add(method: str, task_name: str, metrics: dict, timing: dict, kind: str | None = None) -> None:
        times = timing.get("tasks", {}).get(kind or task_name, {})
        rows.append(
            {
                "method": method,
                "task": task_name,
                **metrics,
                "train_seconds": times.get("train_seconds"),
                "sample_seconds": times.get("sample_seconds"),
                "peak_rss_mb": timing.get("peak_rss_mb"),
            }
        )

    for folder in sorted(p for p in (run / "outputs").iterdir() if p.is_dir()):
        method, timing = folder.name, read_timing(folder)
        versions[method] = timing.get("versions", {})
        if timing.get("status") == "failed":
            failures[method] = timing.get("error", "failed")
        for error in timing.get("errors", {}).items():
            failures[f"{method}/{error[0]}"] = error[1]
        if (folder / "synthetic.parquet").is_file():
            synthetic, dropped = windows_to_features(pd.read_parquet(folder / "synthetic.parquet"), processor, length)
            counts = {"num_windows": len(synthetic), "dropped_windows": dropped}
            metrics = generation_scores(real, synthetic, layout, repeats, steps)
            add(method, "generation", {**metrics, **counts}, timing)
            metrics = generation_scores(real_train, synthetic, layout, repeats, steps, train_blocks)
            add(method, TRAINING_PERIOD, {**metrics, **counts}, timing, "generation")
        if (folder / "imputed.parquet").is_file():
            imputed = pd.read_parquet(folder / "imputed.parquet")
            score = imputation_score(imputed, test_values, hidden, scales)
            add(method, "imputation", {"normalised_mae": score}, timing)
        for kind in ("forecast", "forecast_known_future_metadata"):
            if (folder / f"{kind}.parquet").is_file():
                forecast = pd.read_parquet(folder / f"{kind}.parquet")
                name = method if kind == "forecast" else f"{method} (known future metadata)"
                score = forecast_score(forecast, series_values, task, scales)
                add(name, "forecast", {"normalised_mae": score}, timing, kind)
    if reference_rows:
        # What real data that is not the test part scores (training-period windows), and a row-shuffled test table.
        reference = test_window_features(processor, train, task["num_windows"], seed=1)
        add(
            "reference: real training windows",
            "generation",
            generation_scores(real, reference, layout, repeats, steps),
            {},
        )
        shuffled = test.copy()
        shuffled[processor.column_names] = test[processor.column_names].sample(frac=1.0, random_state=0).to_numpy()
        shuffled = test_window_features(processor, shuffled, task["num_windows"], seed=2)
        add(
            "reference: row-shuffled test", "generation", generation_scores(real, shuffled, layout, repeats, steps), {}
        )
        # the held-out-block score of real data: against non-overlapping windows of the other blocks, which, like a
        # generator's draws, have no near-copies among themselves
        other_blocks_scores = generation_scores(real_train, real_train_other, layout, repeats, steps)
        spaced = spaced_reference_windows(processor, train, task["num_windows"])
        held_out = discriminative_score(
            real_train, spaced, num_repeats=repeats, num_steps=steps, real_groups=train_blocks
        )
        other_blocks_scores["discriminative_score_held_out_blocks"] = held_out["mean"]
        other_blocks_scores["discriminative_score_held_out_blocks_std"] = held_out["std"]
        other_blocks_scores["num_spaced_reference_windows"] = len(spaced)
        add("reference: real training windows (other blocks)", TRAINING_PERIOD, other_blocks_scores, {})
        shuffled = train.copy()
        shuffled[processor.column_names] = train[processor.column_names].sample(frac=1.0, random_state=0).to_numpy()
        shuffled = test_window_features(processor, shuffled, task["num_windows"], seed=3)
        add(
            "reference: row-shuffled training table",
            TRAINING_PERIOD,
            generation_scores(real_train, shuffled, layout, repeats, steps, train_blocks),
            {},
        )
    return {
        "dataset": task["dataset"],
        "protocol": task["protocol"],
        "num_real_windows": len(real),
        "num_hidden_cells": int(hidden.to_numpy().sum()),
        "num_origins": len(task["origins"]),
        "horizon": task["horizon"],
        "targets": task["targets"],
        "discriminative": {"num_repeats": repeats, "num_steps": steps},
        "results": rows,
        "failures": failures,
        "versions": versions,
    }


def plot_report(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (TRAINING_PERIOD, "discriminative_score", "discriminative score vs training period\n(lower is better)"),
        (
            TRAINING_PERIOD,
            "discriminative_score_held_out_blocks",
            "same, classifier tested on\nheld-out time blocks",
        ),
        ("generation", "discriminative_score", "discriminative score vs test period"),
        (TRAINING_PERIOD, "marginal_distance", "marginal distance (training period)"),
        (TRAINING_PERIOD, "autocorrelation_error", "autocorrelation error (training period)"),
        ("imputation", "normalised_mae", "imputation MAE / train std"),
        ("forecast", "normalised_mae", f"{report.get('horizon', 24)}-step forecast MAE / train std"),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    for axis, (task_name, metric, title) in zip(axes, panels):
        rows = [r for r in report["results"] if r["task"] == task_name and r.get(metric) is not None]
        names = [r["method"].replace("reference: ", "ref: ") for r in rows]
        colours = [
            "tab:red" if r["method"].startswith(OURS) else "silver" if r["method"].startswith("ref") else "tab:blue"
            for r in rows
        ]
        axis.barh(names, [r[metric] for r in rows], color=colours)
        axis.set_title(title, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.invert_yaxis()
    figure.suptitle(f"TimeAutoDiff (red) vs peers (blue), {report['dataset']}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def command_score(options) -> None:
    from timeautodiff_hf import TimeAutoDiffPipeline

    run = run_dir(options)
    if options.rerun_ours or not (run / "outputs" / OURS / "timing.json").is_file():
        command = [sys.executable, __file__, "ours", "--dataset", options.dataset, "--run-dir", str(run)]
        command += ["--model", str(model_dir(options)), "--inference-steps", str(options.inference_steps)]
        command += ["--sampler", options.sampler]
        subprocess.run(command, check=True)
    processor = TimeAutoDiffPipeline.from_pretrained(model_dir(options)).processor
    report = score_run(run, processor, repeats=options.repeats, steps=options.discriminative_steps)
    output = Path(options.output or ROOT / "results" / f"peers_{options.dataset}.json")
    peers_timing = run / "outputs" / "run_peers.json"
    if peers_timing.is_file():
        report["peer_run"] = json.loads(peers_timing.read_text())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=float))
    plot_report(report, output.with_suffix(".png"))
    print_table(report)


def print_table(report: dict) -> None:
    print(f"{'method':42s} {'task':28s} {'metric':36s} {'value':>8s} {'train s':>8s} {'sample s':>8s} {'RSS MB':>7s}")
    for row in report["results"]:
        metrics = [
            key
            for key in (
                "discriminative_score",
                "discriminative_score_held_out_blocks",
                "marginal_distance",
                "normalised_mae",
            )
            if key in row
        ]
        for metric in metrics:
            train, sample, rss = (row.get(k) for k in ("train_seconds", "sample_seconds", "peak_rss_mb"))
            print(
                f"{row['method']:42s} {row['task']:28s} {metric:36s} {row[metric]:8.3f} "
                f"{'-' if train is None else round(train):>8} {'-' if sample is None else round(sample, 1):>8} "
                f"{'-' if rss is None else round(rss):>7}"
            )


def run_dir(options) -> Path:
    return Path(options.run_dir or ROOT / "runs" / "peers" / options.dataset)


def model_dir(options) -> Path:
    return Path(options.model or ROOT / "runs" / options.dataset / "model")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["prepare", "ours", "score"])
    parser.add_argument("--dataset", default="bike")
    parser.add_argument(
        "--run-dir", default=None, help="Task and outputs folder (default benchmarks/runs/peers/NAME)."
    )
    parser.add_argument("--model", default=None, help="Our trained pipeline (default benchmarks/runs/NAME/model).")
    parser.add_argument("--num-windows", type=int, default=1000)
    parser.add_argument("--num-origins", type=int, default=40, help="Forecast origins (per entity with 'all').")
    parser.add_argument(
        "--forecast-entities",
        choices=FORECAST_ENTITIES,
        default="first",
        help="Panels: forecast the first entity's test part (default) or every entity's (prepare).",
    )
    parser.add_argument("--horizon", type=int, default=24, help="Forecast steps (prepare).")
    parser.add_argument(
        "--context",
        type=int,
        default=24,
        help="History steps a forecast origin needs (prepare); "
        f"statistical forecasters and our baselines read up to {FORECAST_HISTORY_SEASONS} seasons.",
    )
    parser.add_argument("--inference-steps", type=int, default=20, help="DPM-Solver++ steps for our model.")
    parser.add_argument(
        "--sampler",
        choices=["dpm", "sde-dpm"],
        default="dpm",
        help="Our model's DPM-Solver++: deterministic (the published tables) or stochastic.",
    )
    parser.add_argument("--repeats", type=int, default=3, help="Discriminative score repeats.")
    parser.add_argument("--discriminative-steps", type=int, default=400)
    parser.add_argument("--rerun-ours", action="store_true", help="Regenerate our outputs even if present.")
    parser.add_argument("--output", default=None, help="Report path (default benchmarks/results/peers_NAME.json).")
    options = parser.parse_args(argv)
    {"prepare": command_prepare, "ours": command_ours, "score": command_score}[options.command](options)


if __name__ == "__main__":
    main()
