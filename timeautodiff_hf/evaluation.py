"""Evaluate a trained pipeline against real data: the metrics report (JSON) and its plots (PNG)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .metrics import (
    evaluate_generation,
    plot_autocorrelation,
    plot_embedding,
    plot_marginals,
    plot_sequences,
    save_report,
)

MAX_WINDOWS = 3000


def real_feature_windows(
    processor, table: pd.DataFrame, max_windows: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """
    Stride-1 windows of a real table in feature space, subsampled (without replacement) to `max_windows`, with the
    time block of each (see `time_blocks`) and the number of windows before subsampling.
    """
    batch = processor.encode(table, stride=1)
    features = processor.to_features(batch["values"], batch["observed_mask"])
    blocks = time_blocks(batch["timestamps"][:, -1], processor.sequence_length)
    total = len(features)
    if total > max_windows:
        keep = np.sort(np.random.default_rng(seed).choice(total, max_windows, replace=False))
        features, blocks = features[keep], blocks[keep]
    return features, blocks, total


def time_blocks(end_times: np.ndarray, sequence_length: int, block_windows: int = 10, min_blocks: int = 20):
    """
    A block number for every window from the time of its last step: runs of `block_windows * sequence_length`
    consecutive distinct end times (fewer when that leaves under `min_blocks` blocks, never fewer than a window's).
    Windows that overlap end close in time and share a block, so holding out whole blocks keeps near-copies of a
    test window out of a classifier's training windows; all entities at the same times share a block too.
    """
    _, position = np.unique(end_times, return_inverse=True)
    num_times = int(position.max()) + 1 if len(position) else 0
    return position // min(block_windows * sequence_length, max(sequence_length, num_times // min_blocks))


def synthetic_windows(pipe, num_sequences: int, seed: int, num_inference_steps: int, batch_size: int = 512):
    """`num_sequences` generated windows: model-space values with NaN for generated-missing cells."""
    return pipe(
        num_sequences=num_sequences,
        num_inference_steps=num_inference_steps,
        output_type="np",
        generator=torch.Generator().manual_seed(seed),
        batch_size=batch_size,
    ).frames


def evaluate_pipeline(
    pipe,
    table: Any,
    *,
    train_table: Any | None = None,
    output_dir: str | os.PathLike,
    num_sequences: int | None = None,
    quick: bool = False,
    seed: int = 0,
    num_inference_steps: int = 50,
) -> dict:
    """
    Compare a pipeline's unconditional samples with real windows and write `report.json` plus PNG plots.

    Protocol: real windows are cut from `table` at stride 1 (all phases; ideally a held-out period, interleaved
    blocks rather than a later season) and subsampled to at most 3,000 (1,000 with `quick`); as many synthetic
    windows are generated with a fixed seed. `timeautodiff_hf.metrics.evaluate_generation` then computes the
    discriminative score with its real-vs-real floor (and again with the classifier tested on time blocks it never
    trained on), the temporal discriminative and predictive scores, marginal, correlation, autocorrelation and
    missing-rate errors, and, when `train_table` is given, the distance-to-closest-record privacy audit (synthetic
    windows closer to training windows than to the held-out ones, exact copies).

    Args:
        pipe (`TimeAutoDiffPipeline`): the model.
        table (`pd.DataFrame` or path): real data to compare with.
        train_table (`pd.DataFrame` or path, *optional*): the training data, for the privacy audit.
        output_dir (`str` or `os.PathLike`): where `report.json`, `marginals.png`, `autocorrelation.png`,
            `sequences.png` and `embedding.png` are written.
        num_sequences (`int`, *optional*): synthetic windows (default: as many as the real windows used).
        quick (`bool`, *optional*, defaults to `False`): smaller budgets (about a minute on 2 CPU cores).
        seed (`int`, *optional*, defaults to 0): seed of the sampling, subsampling and metric classifiers.
        num_inference_steps (`int`, *optional*, defaults to 50): denoising steps.

    Returns:
        `dict`: the report (with a `summary` of headline numbers).
    """
    from .table_io import read_table

    processor = pipe.processor
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    max_windows = 1000 if quick else MAX_WINDOWS
    real, real_blocks, total_real = real_feature_windows(
        processor, read_table(table, argument_name="data"), max_windows, seed
    )
    train = None
    if train_table is not None:
        train, _, _ = real_feature_windows(
            processor, read_table(train_table, argument_name="train_data"), max_windows, seed + 1
        )
    count = num_sequences or len(real)
    generated = synthetic_windows(pipe, count, seed, num_inference_steps)
    observed = ~np.isnan(generated)
    synthetic = processor.to_features(np.nan_to_num(generated), observed)
    layout = processor.feature_layout()
    report = evaluate_generation(
        real,
        synthetic,
        layout=layout,
        train_windows=train,
        holdout_windows=real if train is not None else None,
        real_groups=real_blocks,
        seed=seed,
        quick=quick,
    )
    report["protocol"]["real_windows_available"] = int(total_real)
    report["protocol"]["real_windows_used"] = int(len(real))
    report["protocol"]["num_inference_steps"] = int(num_inference_steps)
    report["protocol"]["scheduler"] = type(pipe.scheduler).__name__

    real_frame = processor.decode(np.nan_to_num(_model_space(processor, real)), observed_mask=_observed(real, layout))
    synthetic_frame = processor.decode(np.nan_to_num(generated), observed_mask=observed)
    columns = processor.column_names[:12]
    report["plots"] = {
        "marginals": plot_marginals(real_frame, synthetic_frame, columns, output_dir / "marginals.png"),
        "autocorrelation": plot_autocorrelation(real, synthetic, layout, output_dir / "autocorrelation.png"),
        "sequences": plot_sequences(real, synthetic, layout, output_dir / "sequences.png"),
        "embedding": plot_embedding(real, synthetic, output_dir / "embedding.png"),
    }
    report["plots"] = {key: str(value) for key, value in report["plots"].items()}
    save_report(report, output_dir / "report.json")
    return report


def _model_space(processor, features: np.ndarray) -> np.ndarray:
    """Feature space (one-hot) back to model space (category indices), for decoding real windows into a table."""
    columns = []
    for column in processor.feature_layout():
        part = features[..., column["start"] : column["stop"]]
        if column["kind"] == "categorical":
            columns.append(np.nan_to_num(part).argmax(axis=-1).astype(float))
        else:
            columns.append(part[..., 0])
    return np.stack(columns, axis=-1)


def _observed(features: np.ndarray, layout: list[dict]) -> np.ndarray:
    return np.stack([~np.isnan(features[..., column["start"]]) for column in layout], axis=-1)


def evaluate_forecast(
    pipe,
    table: Any,
    *,
    horizon: int,
    output_dir: str | os.PathLike,
    num_samples: int = 20,
    seed: int = 0,
    num_inference_steps: int = 50,
) -> dict:
    """
    Hold out the last `horizon` steps of every entity of `table`, forecast them from the steps before (with the
    known future metadata when the model has metadata columns), and score the continuous non-metadata columns.

    Scores: MAE and MSE of the median of `num_samples` paths in original units (per column) and in scaled units
    (the processor's normal scores, averaged over columns), and CRPS of the sample paths in scaled units. Writes
    `forecast.png` (history, truth, median and 10-90 % band of the first entity) and returns the report.
    """
    from .metrics import crps_from_samples, masked_mae, masked_mse
    from .plotting import plot_forecast_fan
    from .table_io import read_table

    processor = pipe.processor
    frame = read_table(table, argument_name="data").reset_index(drop=True)
    time_column, entity_column = processor.time_column, processor.entity_column
    groups = [frame] if entity_column is None else [group for _, group in frame.groupby(entity_column, sort=False)]
    histories, truths = [], []
    for group in groups:
        group = group.sort_values(time_column) if time_column else group
        if len(group) <= horizon:
            raise ValueError(f"Every entity needs more than horizon={horizon} rows to hold out a forecast period.")
        histories.append(group.iloc[:-horizon])
        truths.append(group.iloc[-horizon:])
    history, truth = pd.concat(histories), pd.concat(truths)
    future = None
    if processor.metadata_columns:
        keys = [name for name in (entity_column, time_column) if name]
        future = truth[keys + processor.metadata_columns]
    forecast = pipe.forecast(
        history,
        horizon=horizon,
        metadata_future=future,
        num_samples=num_samples,
        num_inference_steps=num_inference_steps,
        generator=torch.Generator().manual_seed(seed),
    )
    targets = [c for c in processor.columns if c["kind"] == "continuous" and c["role"] == "feature"]
    if not targets:
        raise ValueError("The model has no continuous non-metadata column to score a forecast on.")
    truth_values = np.stack([truth[c["name"]].astype(float).to_numpy() for c in targets], axis=-1)
    draws = (
        np.stack(
            [
                np.stack([draw[c["name"]].astype(float).to_numpy() for c in targets], axis=-1)
                for _, draw in forecast.groupby("sample", sort=True)
            ]
        )
        if "sample" in forecast.columns
        else np.stack([forecast[c["name"]].astype(float).to_numpy() for c in targets], axis=-1)[None]
    )
    observed = ~np.isnan(truth_values)
    median = np.median(draws, axis=0)
    scaled_truth = np.stack([_scaled(c, truth_values[:, i]) for i, c in enumerate(targets)], axis=-1)
    scaled_draws = np.stack([_scaled(c, draws[..., i]) for i, c in enumerate(targets)], axis=-1)
    report = {
        "horizon": horizon,
        "num_samples": num_samples,
        "num_series": len(groups),
        "mae_original": {
            c["name"]: masked_mae(median[:, i], truth_values[:, i], observed[:, i]) for i, c in enumerate(targets)
        },
        "mse_original": {
            c["name"]: masked_mse(median[:, i], truth_values[:, i], observed[:, i]) for i, c in enumerate(targets)
        },
        "mae_scaled": masked_mae(np.median(scaled_draws, axis=0), scaled_truth, observed),
        "mse_scaled": masked_mse(np.median(scaled_draws, axis=0), scaled_truth, observed),
        "crps_scaled": crps_from_samples(scaled_draws, scaled_truth, observed),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    report["plot"] = str(
        plot_forecast_fan(
            history, forecast, processor, output_dir / "forecast.png", column=targets[0]["name"], truth=truth
        )
    )
    save_report(report, output_dir / "forecast_report.json")
    return report


def _scaled(column: dict, values: np.ndarray) -> np.ndarray:
    from .processing_timeautodiff import quantile_transform

    flat = np.asarray(values, dtype=float).reshape(-1)
    scaled = np.full_like(flat, np.nan)
    present = ~np.isnan(flat)
    scaled[present] = quantile_transform(flat[present], column)
    return scaled.reshape(np.shape(values))
