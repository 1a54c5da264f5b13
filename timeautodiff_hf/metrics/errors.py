"""Imputation and forecast errors on held-out cells: masked MAE/MSE, sample CRPS and per-column table errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def masked_mae(prediction: Any, target: Any, target_mask: Any) -> float:
    """
    Mean absolute error over the cells selected by `target_mask`.

    Args:
        prediction (`np.ndarray` of any shape): predicted values.
        target (`np.ndarray` of the same shape): true values.
        target_mask (`np.ndarray` of the same shape): 1 (or `True`) for the cells to score.

    Returns:
        `float`: the mean of `|prediction − target|` over the selected cells.
    """
    prediction, target, mask = _check_masked(prediction, target, target_mask)
    return float(np.mean(np.abs(prediction[mask] - target[mask])))


def masked_mse(prediction: Any, target: Any, target_mask: Any) -> float:
    """
    Mean squared error over the cells selected by `target_mask`.

    Args:
        prediction (`np.ndarray` of any shape): predicted values.
        target (`np.ndarray` of the same shape): true values.
        target_mask (`np.ndarray` of the same shape): 1 (or `True`) for the cells to score.

    Returns:
        `float`: the mean of `(prediction − target)²` over the selected cells.
    """
    prediction, target, mask = _check_masked(prediction, target, target_mask)
    return float(np.mean((prediction[mask] - target[mask]) ** 2))


def crps_from_samples(samples: Any, target: Any, target_mask: Any) -> float:
    r"""
    Continuous ranked probability score of an empirical sample distribution, averaged over the selected cells.

    Uses the energy form `CRPS = E|X − y| − 0.5 E|X − X'|` with the expectations over the empirical distribution of
    the samples (the "V-statistic" estimator, which equals the CRPS of the empirical CDF). The pairwise term is
    computed from sorted samples in O(S log S): `Σ_ij |x_i − x_j| = 2 Σ_i (2i − S + 1) x_(i)` (0-based ranks). A
    single sample gives the absolute error; samples all equal to the target give 0. Lower is better.

    Args:
        samples (`np.ndarray` of shape `(num_samples, *target.shape)`): sampled predictions.
        target (`np.ndarray` of any shape): true values.
        target_mask (`np.ndarray` of the same shape as `target`): 1 (or `True`) for the cells to score.

    Returns:
        `float`: the mean CRPS over the selected cells.
    """
    samples = np.asarray(samples, dtype=np.float64)
    target_array = np.asarray(target, dtype=np.float64)
    if samples.ndim != target_array.ndim + 1 or samples.shape[1:] != target_array.shape or samples.shape[0] < 1:
        raise ValueError(
            f"`samples` has shape {samples.shape!r}, expected (num_samples, *{target_array.shape!r}) with "
            "num_samples >= 1"
        )
    _, target_array, mask = _check_masked(target_array, target_array, target_mask)
    selected = samples[:, mask]
    if np.isnan(selected).any():
        raise ValueError(f"`samples` has {int(np.isnan(selected).sum())!r} NaN values on scored cells, expected none")
    observed = target_array[mask]
    num_samples = selected.shape[0]
    absolute_error = np.mean(np.abs(selected - observed[None, :]), axis=0)
    ordered = np.sort(selected, axis=0)
    weights = 2.0 * np.arange(num_samples) - num_samples + 1.0
    pairwise = 2.0 * np.sum(weights[:, None] * ordered, axis=0) / num_samples**2
    return float(np.mean(absolute_error - 0.5 * pairwise))


def imputation_errors(
    prediction_df: pd.DataFrame,
    truth_df: pd.DataFrame,
    target_mask_df: pd.DataFrame,
    columns: list[str] | None = None,
    categorical_columns: list[str] | None = None,
) -> dict:
    r"""
    Per-column errors of imputed (or forecast) values in original units, on the cells selected by a mask.

    Rows are matched by position. Numeric columns (not bool) get MAE, MSE and the MAE normalised by the standard
    deviation of the column's observed true values (`nmae`, comparable across columns). Other columns, and those
    listed in `categorical_columns`, get the error rate (share of selected cells whose prediction differs from the
    truth; missing predictions count as errors).

    Args:
        prediction_df (`pd.DataFrame`): predicted table.
        truth_df (`pd.DataFrame`): true table, same number of rows.
        target_mask_df (`pd.DataFrame`): bool/0-1 table, same number of rows; `True` marks the cells to score.
        columns (`list[str]`, *optional*): columns to score. Defaults to the mask's columns present in both tables.
        categorical_columns (`list[str]`, *optional*): numeric columns to score as categories (error rate).

    Returns:
        `dict` with `per_column` (`dict[str, dict]`: `kind` (`"numeric"` or `"categorical"`), `num_cells` and
        either `mae`, `mse`, `nmae` or `error_rate`), `mean_nmae` and `mean_error_rate` (`float`, NaN if no such
        column). Columns with no selected cell are skipped.
    """
    for frame, name in ((prediction_df, "prediction_df"), (truth_df, "truth_df"), (target_mask_df, "target_mask_df")):
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__!r}")
    for frame, name in ((prediction_df, "prediction_df"), (target_mask_df, "target_mask_df")):
        if len(frame) != len(truth_df):
            raise ValueError(f"`{name}` has {len(frame)!r} rows, expected {len(truth_df)!r} like `truth_df`")
    if columns is None:
        columns = [c for c in target_mask_df.columns if c in prediction_df.columns and c in truth_df.columns]
    categorical_columns = set(categorical_columns or [])
    per_column = {}
    for column in columns:
        for frame, name in (
            (prediction_df, "prediction_df"),
            (truth_df, "truth_df"),
            (target_mask_df, "target_mask_df"),
        ):
            if column not in frame.columns:
                raise ValueError(f"`{name}` has no column {column!r}, expected every scored column")
        mask = target_mask_df[column].fillna(False).to_numpy().astype(bool)
        if not mask.any():
            continue
        truth, prediction = truth_df[column], prediction_df[column]
        if truth.isna().to_numpy()[mask].any():
            raise ValueError(f"`truth_df[{column!r}]` is missing on masked cells, expected observed true values")
        numeric = (
            column not in categorical_columns
            and pd.api.types.is_numeric_dtype(truth)
            and pd.api.types.is_numeric_dtype(prediction)
            and not pd.api.types.is_bool_dtype(truth)
            and not pd.api.types.is_bool_dtype(prediction)
        )
        if numeric:
            true_values = truth.to_numpy(dtype=np.float64)
            predicted = prediction.to_numpy(dtype=np.float64)
            if np.isnan(predicted[mask]).any():
                raise ValueError(f"`prediction_df[{column!r}]` is missing on masked cells, expected predictions")
            difference = predicted[mask] - true_values[mask]
            scale = float(np.nanstd(true_values))
            mae = float(np.mean(np.abs(difference)))
            per_column[column] = {
                "kind": "numeric",
                "num_cells": int(mask.sum()),
                "mae": mae,
                "mse": float(np.mean(difference**2)),
                "nmae": mae / scale if scale > 0 else float("nan"),
            }
        else:
            true_values = truth.to_numpy(dtype=object)[mask]
            predicted = prediction.to_numpy(dtype=object)[mask]
            correct = np.array([not pd.isna(p) and p == t for p, t in zip(predicted, true_values)], dtype=bool)
            per_column[column] = {
                "kind": "categorical",
                "num_cells": int(mask.sum()),
                "error_rate": float(1.0 - correct.mean()),
            }
    nmaes = [v["nmae"] for v in per_column.values() if v["kind"] == "numeric" and not np.isnan(v["nmae"])]
    error_rates = [v["error_rate"] for v in per_column.values() if v["kind"] == "categorical"]
    return {
        "per_column": per_column,
        "mean_nmae": float(np.mean(nmaes)) if nmaes else float("nan"),
        "mean_error_rate": float(np.mean(error_rates)) if error_rates else float("nan"),
    }


def _check_masked(prediction: Any, target: Any, target_mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checks shapes, turns the mask into bools and rejects empty masks and NaN on scored cells."""
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mask = np.asarray(target_mask)
    if prediction.shape != target.shape:
        raise ValueError(f"`prediction` has shape {prediction.shape!r}, expected {target.shape!r} like `target`")
    if mask.shape != target.shape:
        raise ValueError(f"`target_mask` has shape {mask.shape!r}, expected {target.shape!r} like `target`")
    mask = np.nan_to_num(mask.astype(np.float64)) > 0.5
    if not mask.any():
        raise ValueError("`target_mask` selects no cell, got an all-zero mask, expected at least one cell to score")
    if np.isnan(target[mask]).any():
        raise ValueError(
            f"`target` has {int(np.isnan(target[mask]).sum())!r} NaN values on scored cells, expected none"
        )
    if np.isnan(prediction[mask]).any():
        raise ValueError(
            f"`prediction` has {int(np.isnan(prediction[mask]).sum())!r} NaN values on scored cells, expected none"
        )
    return prediction, target, mask
