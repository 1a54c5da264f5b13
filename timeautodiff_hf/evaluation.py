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


def real_feature_windows(processor, table: pd.DataFrame, max_windows: int, seed: int) -> tuple[np.ndarray, int]:
    """Stride-1 windows of a real table in feature space, subsampled (without replacement) to `max_windows`."""
    batch = processor.encode(table, stride=1)
    features = processor.to_features(batch["values"], batch["observed_mask"])
    total = len(features)
    if total > max_windows:
        keep = np.sort(np.random.default_rng(seed).choice(total, max_windows, replace=False))
        features = features[keep]
    return features, total


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
    discriminative score with its real-vs-real floor, the temporal discriminative and predictive scores, marginal,
    correlation, autocorrelation and missing-rate errors, and, when `train_table` is given, the distance-to-closest-
    record privacy audit (synthetic windows closer to training windows than to the held-out ones, exact copies).

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
    real, total_real = real_feature_windows(processor, read_table(table, argument_name="data"), max_windows, seed)
    train = None
    if train_table is not None:
        train, _ = real_feature_windows(
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
