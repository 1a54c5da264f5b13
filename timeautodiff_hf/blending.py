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
# Regressors of a cell: at most a few other continuous columns, among those observed often enough that steps with
# all of them observed are common (6 instead of 3 was worse on ETTh1 and AirQuality), chosen by forward selection
# from the most correlated ones (a part of a total needs the total and the other part, which need not be the columns
# most correlated with it).
MAX_REGRESSORS = 3
REGRESSOR_CANDIDATES = 8
MIN_RELATIVE_GAIN = 0.01
MIN_REGRESSOR_OBSERVED = 0.75
# Candidate periods, in steps, of a seasonal cycle: a week of daily data, a year of monthly data, a day of hourly data,
# a year of weekly data, a day of quarter-hourly data, a week of hourly data.
SEASONAL_LAGS = (7, 12, 24, 52, 96, 168)
MIN_SEASONAL_CORRELATION = 0.1
# Cycles on each side whose shape `seasonal_interpolation` averages: one alone is noisy (ETTh1 imputation 0.1172 with
# one, 0.1161 with three, 0.1161 with six).
SEASONAL_CYCLES = 3


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


def sorted_group_ids(order: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """The group (entity) number of every position of the time order `order`; all zeros without groups."""
    return np.zeros(len(order)) if groups is None else pd.factorize(groups[order])[0]


def observed_neighbours(missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """
    For every position of the time order (`order`), the nearest observed positions before and after it within its
    group, and the second nearest: `{"previous", "next", "previous_2", "next_2"}`, positions into `order`, -1
    where there is none. Computed for all groups at once (wide tables with many entities call this per column).
    """
    length = len(order)
    positions = np.arange(length)
    sorted_missing = missing[order].astype(bool)
    sorted_groups = sorted_group_ids(order, groups)
    starts = np.ones(length, dtype=bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    ends = np.ones(length, dtype=bool)
    ends[:-1] = starts[1:]
    group_start = np.maximum.accumulate(np.where(starts, positions, 0))
    group_end = np.minimum.accumulate(np.where(ends, positions, length - 1)[::-1])[::-1]
    # nearest observed position at or before / at or after every position (ignoring groups, checked below)
    at_or_before = np.maximum.accumulate(np.where(~sorted_missing, positions, -1))
    at_or_after = np.minimum.accumulate(np.where(~sorted_missing, positions, length)[::-1])[::-1]

    def before(position: np.ndarray) -> np.ndarray:
        found = np.where(position >= 0, at_or_before[np.clip(position, 0, None)], -1)
        return np.where((position >= 0) & (found >= group_start), found, -1)

    def after(position: np.ndarray) -> np.ndarray:
        found = np.where(position < length, at_or_after[np.clip(position, None, length - 1)], length)
        return np.where((position < length) & (found <= group_end), found, -1)

    previous, following = before(positions - 1), after(positions + 1)
    return {
        "previous": previous,
        "next": following,
        "previous_2": np.where(previous >= 0, before(previous - 1), -1),
        "next_2": np.where(following >= 0, after(following + 1), -1),
    }


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
    return _line_through_neighbours(values, missing, order, observed_neighbours(missing, order, groups))


def _line_through_neighbours(
    values: np.ndarray, missing: np.ndarray, order: np.ndarray, neighbours: dict
) -> np.ndarray:
    """`linear_interpolation` given `observed_neighbours(missing, order, groups)`."""
    result = values.astype(float).copy()
    sorted_values = result[order]
    fill = np.flatnonzero(missing[order].astype(bool))
    previous, following = neighbours["previous"][fill], neighbours["next"][fill]
    has_previous, has_next = previous >= 0, following >= 0
    both = has_previous & has_next
    filled = sorted_values[fill]
    left, right = previous[both], following[both]
    fraction = (fill[both] - left) / (right - left)
    filled[both] = sorted_values[left] + fraction * (sorted_values[right] - sorted_values[left])
    filled[has_previous & ~has_next] = sorted_values[previous[has_previous & ~has_next]]
    filled[has_next & ~has_previous] = sorted_values[following[has_next & ~has_previous]]
    result[order[fill]] = filled
    return result


def cubic_interpolation(
    values: np.ndarray, missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None = None
) -> np.ndarray:
    """
    Like `linear_interpolation`, but through the two nearest observed cells on each side of a gap (the cubic
    through those four points), which follows the curvature of smooth cycles (a daily traffic peak) that a line
    cuts. Cells with fewer than two observed cells on a side get the line.
    """
    neighbours = observed_neighbours(missing, order, groups)
    result = _line_through_neighbours(values, missing, order, neighbours)
    sorted_values = values.astype(float)[order]
    fill = np.flatnonzero(missing[order].astype(bool))
    nodes = np.column_stack([neighbours[key][fill] for key in ("previous_2", "previous", "next", "next_2")])
    inside = (nodes >= 0).all(axis=1)
    if not inside.any():
        return result
    at, x = fill[inside].astype(float), nodes[inside].astype(float)
    y = sorted_values[nodes[inside]]
    estimate = np.zeros(len(at))
    for i in range(4):
        basis = np.ones(len(at))
        for j in range(4):
            if j != i:
                basis *= (at - x[:, j]) / (x[:, i] - x[:, j])
        estimate += basis * y[:, i]
    result[order[fill[inside]]] = estimate
    return result


def dominant_period(
    values: np.ndarray, missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None = None
) -> int | None:
    """
    The dominant cycle of a column in steps (one of `SEASONAL_LAGS`), or `None` when it has none.

    Scored by the autocorrelation of the column's step-to-step changes (within each group, both changes observed)
    rather than of its values: a smooth or trending series is correlated with itself at every lag, while its changes
    repeat only where the series has a cycle (the morning rise of a daily load). The shortest lag whose correlation
    is above `MIN_SEASONAL_CORRELATION` and three standard errors of noise (`3 / sqrt(pairs)`) is kept, unless a
    longer one is higher by three standard errors more.
    """
    sorted_values = np.where(missing, np.nan, values.astype(float))[order]
    sorted_groups = sorted_group_ids(order, groups)
    changes = np.full(len(order), np.nan)
    changes[1:] = np.where(sorted_groups[1:] == sorted_groups[:-1], np.diff(sorted_values), np.nan)
    best, best_correlation = None, 0.0
    for lag in SEASONAL_LAGS:
        if lag >= len(order):
            continue
        earlier, later = changes[:-lag], changes[lag:]
        pairs = np.isfinite(earlier) & np.isfinite(later) & (sorted_groups[:-lag] == sorted_groups[lag:])
        if pairs.sum() < MIN_VALIDATION_CELLS or earlier[pairs].std() == 0 or later[pairs].std() == 0:
            continue
        correlation = np.corrcoef(earlier[pairs], later[pairs])[0, 1]
        noise = 3 / np.sqrt(pairs.sum())
        # lags are tried shortest first; a longer one (often a multiple: a week of days) must be clearly better
        threshold = max(MIN_SEASONAL_CORRELATION, noise) if best is None else best_correlation + noise
        if correlation > threshold:
            best, best_correlation = lag, correlation
    return best


def seasonal_interpolation(
    values: np.ndarray, missing: np.ndarray, order: np.ndarray, groups: np.ndarray | None, period: int
) -> np.ndarray:
    """
    Like `linear_interpolation`, plus the shape of the neighbouring cycles: a missing cell gets its line plus the
    mean, over the steps 1..`SEASONAL_CYCLES` periods before and after it (same group), of how far the observed value
    there lay from the line through the cells as far from the gap's own neighbours. A daily peak that a line across a
    gap cuts off is copied from the neighbouring days, at today's level. Cells without any such step (and its two
    line ends) observed keep the line.

    Args:
        values, missing, order, groups: as in `linear_interpolation`.
        period (`int`): the cycle in steps of the time order (see `dominant_period`).

    Returns:
        `np.ndarray`: `values` with missing cells filled.
    """
    neighbours = observed_neighbours(missing, order, groups)
    result = _line_through_neighbours(values, missing, order, neighbours)
    length = len(order)
    sorted_values = np.where(missing, np.nan, values.astype(float))[order]
    sorted_groups = sorted_group_ids(order, groups)
    fill = np.flatnonzero(missing[order].astype(bool))
    previous, following = neighbours["previous"][fill], neighbours["next"][fill]
    # the line's weight on each end: both ends inside a gap, one end before the first or after the last observed cell
    both = (previous >= 0) & (following >= 0)
    span = np.where(both, following - previous, 1)
    weight_next = np.where(both, (fill - previous) / span, (following >= 0).astype(float))
    weight_previous = np.where(previous >= 0, 1.0 - weight_next, 0.0)

    def at(position: np.ndarray, shift: int) -> np.ndarray:
        """Observed value at `position + shift` in the time order, NaN outside the group or where unobserved."""
        moved = position + shift
        inside = (position >= 0) & (moved >= 0) & (moved < length)
        moved = np.clip(moved, 0, length - 1)
        same_group = inside & (sorted_groups[moved] == sorted_groups[np.clip(position, 0, length - 1)])
        return np.where(same_group, sorted_values[moved], np.nan)

    deviations = []
    for shift in [sign * period * cycle for cycle in range(1, SEASONAL_CYCLES + 1) for sign in (-1, 1)]:
        level = np.where(weight_previous > 0, weight_previous * at(previous, shift), 0.0) + np.where(
            weight_next > 0, weight_next * at(following, shift), 0.0
        )
        deviations.append(at(fill, shift) - level)
    deviation = np.stack(deviations)
    seen = np.isfinite(deviation)
    mean_deviation = np.where(seen, deviation, 0.0).sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
    result[order[fill]] += mean_deviation
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
    Ridge regression of held-out cells on `features` (their line, the cubic through their neighbours, the model's
    value, and the other continuous columns at the same step), with its 5-fold cross-validated mean absolute error.

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


def select_regressors(
    truth: np.ndarray, base: np.ndarray, candidates: dict[str, np.ndarray], fallback_error: np.ndarray, seed: int
) -> list[str]:
    """
    Forward selection of up to `MAX_REGRESSORS` candidate columns for `fit_cell_regression`, by the error `impute`
    will make: a regression is used only on cells whose step has all its regressors observed and the blend elsewhere,
    so each candidate set is scored by the 5-fold cross-validated least-squares error on its cells plus the blend's
    error on the rest. Starting from the best single column, pair or leading group, a column is added while it lowers
    that error.

    Args:
        truth (`np.ndarray`): the held-out cells' true values.
        base (`np.ndarray` of shape `(num_cells, num_features)`): features every regression has (line, model...).
        candidates (`dict[str, np.ndarray]`): column name -> its inputs at the same cells, `(num_cells,)` or
            `(num_cells, k)` (NaN where unobserved), most promising first.
        fallback_error (`np.ndarray`): absolute error of the blend at every cell.
        seed (`int`): for the fold assignment.
    """
    usable = np.isfinite(truth) & np.isfinite(base).all(axis=1) & np.isfinite(fallback_error)
    folds = np.random.default_rng(seed).integers(0, 5, len(truth))

    def total_error(names: list[str]) -> float:
        rows = usable.copy()
        for name in names:
            finite = np.isfinite(candidates[name])
            rows &= finite if finite.ndim == 1 else finite.all(axis=1)
        inputs = np.column_stack([np.ones(int(rows.sum())), base[rows], *[candidates[name][rows] for name in names]])
        if rows.sum() < max(MIN_VALIDATION_CELLS, MIN_REGRESSION_CELLS_PER_FEATURE * (inputs.shape[1] - 1)):
            return float("inf")
        targets, fold = truth[rows], folds[rows]
        predicted = np.empty(len(targets))
        for k in range(5):
            held_out = fold == k
            if held_out.any():
                coefficients = np.linalg.lstsq(inputs[~held_out], targets[~held_out], rcond=None)[0]
                predicted[held_out] = inputs[held_out] @ coefficients
        return float((np.abs(predicted - targets).sum() + fallback_error[usable & ~rows].sum()) / usable.sum())

    # The first round also tries pairs and the first `MAX_REGRESSORS` candidates together (callers list them by
    # correlation): a part of a total is pinned only by the total and the other parts together, while each alone
    # can look useless.
    names = list(candidates)
    first = [[name] for name in names]
    if MAX_REGRESSORS >= 2:
        first += [[a, b] for i, a in enumerate(names) for b in names[i + 1 :]]
    if MAX_REGRESSORS >= 3 and len(names) >= 3:
        first.append(names[:MAX_REGRESSORS])
    # a larger set must lower the error by at least 1 % (an exact fit leaves only rounding noise to "explain")
    spread = float(np.abs(truth[usable] - np.median(truth[usable])).mean()) if usable.any() else 0.0
    chosen: list[str] = []
    best = total_error(chosen)
    options = first
    while options:
        improved = False
        for option in sorted(options, key=len):
            score = total_error(option)
            if score < (1 - MIN_RELATIVE_GAIN) * best - 1e-9 * spread or (len(option) == len(chosen) and score < best):
                chosen, best, improved = option, score, True
        if not improved or len(chosen) >= MAX_REGRESSORS:
            break
        options = [[*chosen, name] for name in names if name not in chosen]
    return chosen


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
    sorted_groups = sorted_group_ids(order, groups)
    starts = sorted_missing & ~np.concatenate([[False], sorted_missing[:-1] & (np.diff(sorted_groups) == 0)])
    run_id = np.cumsum(starts)
    run_length = np.bincount(run_id, weights=sorted_missing.astype(float))
    lengths_sorted = np.where(sorted_missing, run_length[run_id], 0.0)
    lengths = np.zeros(len(order))
    lengths[order] = lengths_sorted
    return lengths.astype(int)
