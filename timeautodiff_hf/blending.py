"""
Blending imputed values with linear interpolation, weighted by a validation pass on the user's own table.

On very smooth series (hourly pollution, temperatures) a single missing cell is almost exactly the line between its
neighbours, and a generative draw adds its own wiggle on top; on series with structure between observations (daily
patterns, long gaps, cross-column information) the model is far better than a line. Which regime a table is in is
measured, not guessed: `impute` hides extra observed cells of each continuous column in the same pattern as the
column's real gaps (its missing mask shifted in time), imputes them, and picks for every column the weight `w` of
the model in `interpolation + w * (model - interpolation)` that minimises the absolute error on those cells. `w = 1`
returns the model's values unchanged, `w = 0` linear interpolation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MODEL_WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)
MIN_VALIDATION_CELLS = 30
MIN_REGRESSION_CELLS_PER_FEATURE = 10
MAX_REGRESSION_GAP = 3
# Regressors of a cell: the few other continuous columns most correlated with it, among those observed often enough
# that steps with all of them observed are common (6 instead of 3 was worse on ETTh1 and AirQuality).
MAX_REGRESSORS = 3
MIN_REGRESSOR_OBSERVED = 0.75


def time_order(table: pd.DataFrame, entity_column: str | None, time_column: str | None) -> np.ndarray:
    """Positions of `table`'s rows sorted by entity, then time (row order where there is no time column)."""
    keys = pd.DataFrame({"position": np.arange(len(table))})
    sort_by = []
    if entity_column is not None:
        keys["entity"] = table[entity_column].to_numpy()
        sort_by.append("entity")
    if time_column is not None:
        keys["time"] = table[time_column].to_numpy()
        sort_by.append("time")
    sort_by.append("position")
    return keys.sort_values(sort_by, kind="stable")["position"].to_numpy()


def linear_interpolation(
    values: np.ndarray, missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None = None
) -> np.ndarray:
    """
    Linearly interpolate the missing entries of one column along time, within each group (entity).

    Args:
        values (`np.ndarray`): the column as floats, in table row order.
        missing (`np.ndarray` of bools): cells to fill (their values are ignored).
        order (`np.ndarray`): row positions in time order (see `time_order`).
        groups (`np.ndarray`, *optional*): entity of every row; interpolation never crosses entities.

    Returns:
        `np.ndarray`: `values` with missing cells filled; cells before the first or after the last observed cell of
        a group take that cell's value, groups without any observed cell stay NaN.
    """
    result = values.astype(float).copy()
    sorted_groups = np.zeros(len(order)) if groups is None else pd.factorize(groups[order])[0]
    boundaries = np.flatnonzero(np.diff(sorted_groups)) + 1
    for rows in np.split(order, boundaries):
        gaps = missing[rows]
        if not gaps.any() or gaps.all():
            continue
        steps = np.arange(len(rows))
        result[rows[gaps]] = np.interp(steps[gaps], steps[~gaps], values[rows[~gaps]].astype(float))
    return result


def validation_cells(missing: np.ndarray, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    Observed cells to hide for the validation pass: the column's missing pattern shifted in time by a random offset
    (same gap lengths), topped up with random observed cells when that gives fewer than `MIN_VALIDATION_CELLS`.
    """
    length = len(order)
    pattern = missing[order]
    shift = int(rng.integers(length // 4, max(length // 4 + 1, 3 * length // 4)))
    hidden_sorted = np.roll(pattern, shift) & ~pattern
    hidden = np.zeros(length, dtype=bool)
    hidden[order] = hidden_sorted
    observed = np.flatnonzero(~missing & ~hidden)
    wanted = min(MIN_VALIDATION_CELLS, max(1, len(observed) // 10)) - int(hidden.sum())
    if wanted > 0 and len(observed) > wanted:
        hidden[rng.choice(observed, wanted, replace=False)] = True
    return hidden


def best_model_weight(truth: np.ndarray, model: np.ndarray, interpolated: np.ndarray) -> float:
    """The weight in `MODEL_WEIGHTS` with the smallest mean absolute error (ties go to the model)."""
    usable = np.isfinite(truth) & np.isfinite(model) & np.isfinite(interpolated)
    if not usable.any():
        return 1.0
    errors = [
        np.abs(interpolated[usable] + weight * (model[usable] - interpolated[usable]) - truth[usable]).mean()
        for weight in MODEL_WEIGHTS
    ]
    best = min(errors)
    return float(max(weight for weight, error in zip(MODEL_WEIGHTS, errors) if error <= best + 1e-12))


def blend(model: np.ndarray, interpolated: np.ndarray, weight: float) -> np.ndarray:
    """`interpolated + weight * (model - interpolated)`, keeping the model's value where there is no line."""
    blended = interpolated + weight * (model - interpolated)
    return np.where(np.isfinite(interpolated), blended, model)


def fit_cell_regression(truth: np.ndarray, features: np.ndarray, seed: int) -> tuple[dict | None, float]:
    """
    Ridge regression of held-out cells on `features` (their line, the model's value, and the other continuous
    columns at the same step), with its 5-fold cross-validated mean absolute error.

    A missing cell of one column is often pinned by the other columns of its step (a total and its parts, a
    temperature and a felt temperature); the model's latent bottleneck only approximates such relations, a
    regression fitted on the table's own held-out cells reproduces them. Returns `(None, inf)` when there are fewer
    than `MIN_REGRESSION_CELLS_PER_FEATURE` usable cells per feature.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    usable = np.isfinite(truth) & np.isfinite(features).all(axis=1)
    inputs, targets = features[usable], truth[usable]
    if len(targets) < max(MIN_VALIDATION_CELLS, MIN_REGRESSION_CELLS_PER_FEATURE * features.shape[1]):
        return None, float("inf")
    mean, scale = inputs.mean(axis=0), inputs.std(axis=0)
    scale[scale == 0] = 1.0
    standardised = (inputs - mean) / scale
    folds = KFold(5, shuffle=True, random_state=seed)
    # the penalty is chosen by leave-one-out inside each fold: exact relations (a total and its parts) need almost
    # none, noisy ones more
    penalties = np.logspace(-6, 2, 9)
    predicted = cross_val_predict(RidgeCV(alphas=penalties), standardised, targets, cv=folds)
    regression = RidgeCV(alphas=penalties).fit(standardised, targets)
    fit = {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coefficients": regression.coef_.tolist(),
        "intercept": float(regression.intercept_),
    }
    return fit, float(np.abs(predicted - targets).mean())


def predict_cells(fit: dict, features: np.ndarray) -> np.ndarray:
    """Apply a `fit_cell_regression` fit to `(num_cells, num_features)` features."""
    standardised = (features - np.asarray(fit["mean"])) / np.asarray(fit["scale"])
    return standardised @ np.asarray(fit["coefficients"]) + fit["intercept"]


def blend_error(truth: np.ndarray, model: np.ndarray, interpolated: np.ndarray, weight: float) -> float:
    """Mean absolute error of `blend(model, interpolated, weight)` on the usable cells (inf when there are none)."""
    usable = np.isfinite(truth) & np.isfinite(model)
    if not usable.any():
        return float("inf")
    return float(np.abs(blend(model[usable], interpolated[usable], weight) - truth[usable]).mean())


def gap_lengths(missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """
    For every cell, the length of the run of consecutive missing cells (in time order, within its group) that
    contains it; 0 for observed cells. The cross-column regression is fitted and used on short gaps only
    (`MAX_REGRESSION_GAP`): inside long gaps (sensor outages) the other columns are usually missing too, so cells
    that look like them in the validation pass would teach it the wrong balance between its line and the rest.
    """
    sorted_missing = missing[order].astype(bool)
    sorted_groups = np.zeros(len(order)) if groups is None else pd.factorize(groups[order])[0]
    starts = sorted_missing & ~np.concatenate([[False], sorted_missing[:-1] & (np.diff(sorted_groups) == 0)])
    run_id = np.cumsum(starts)
    run_length = np.bincount(run_id, weights=sorted_missing.astype(float))
    lengths_sorted = np.where(sorted_missing, run_length[run_id], 0.0)
    lengths = np.zeros(len(order))
    lengths[order] = lengths_sorted
    return lengths.astype(int)
