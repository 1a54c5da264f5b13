"""
Combining the model's forecasts with a naive baseline, weighted by a backtest on held-out history.

A window of `sequence_length` steps cannot show the model what happened one season ago (yesterday's same hour when
the window is a day), which is exactly what a seasonal-naive forecast repeats; on strongly periodic tables
(traffic, bike rentals) that baseline is hard to beat, on others (pollution) the model is far better. Nor can a
model trained on bounded data follow a trend beyond what it saw, which the drift forecast continues. Which regime
a column is in, and how it changes with the forecast step, is measured, not guessed: `calibrate_forecasts`
forecasts from many origins of a held-out period, and keeps per continuous column the baseline (seasonal naive,
last value, drift: the last value moved on by the average change per step over the last season, damped trend:
Holt's exponential smoothing with a damped trend, which follows a level and a local slope that change over time, or
Holt-Winters: the same with an additive season, which a statistical forecaster such as ETS fits to a long history) and
the per-step weight `w` in `center + w * (baseline - center)` with the smallest absolute error. Every sample path is
moved by the same amount, so the spread of the paths is kept; `w = 0` returns the model's forecast unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BASELINES = ("seasonal", "last_value", "drift", "damped_trend", "holt_winters")
# Holt's damped-trend smoothing: (level, trend, damping) parameters tried on each history, the one with the smallest
# one-step-ahead squared error kept (a small grid: robust on short histories, no optimiser to diverge).
DAMPED_TREND_GRID = np.array(
    [
        (alpha, beta, phi)
        for alpha in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
        for beta in (0.01, 0.05, 0.1, 0.2, 0.4)
        for phi in (0.8, 0.9, 0.95, 0.98)
    ]
)
# Holt-Winters (additive season, damped trend): (level, trend, season, damping) parameters, chosen the same way.
HOLT_WINTERS_GRID = np.array(
    [
        (alpha, beta, gamma, phi)
        for alpha in (0.05, 0.1, 0.3, 0.5, 0.8, 1.0)
        for beta in (0.0, 0.05, 0.2)
        for gamma in (0.0, 0.1, 0.3, 0.6)
        for phi in (0.8, 0.9, 0.98)
    ]
)
# Seasons of history a Holt-Winters fit reads (the latest ones): enough to tell a season from noise, and bounded cost.
HOLT_WINTERS_SEASONS = 8
# History a backtest gives the baselines before each forecast origin: what Holt-Winters reads.
BASELINE_HISTORY_SEASONS = HOLT_WINTERS_SEASONS
# A baseline is a calibration candidate only if it is available on this share of the backtest's scorable cells.
MIN_BASELINE_COVERAGE = 0.5
BASELINE_WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)
# Per-step weights are fitted on the errors of this many neighbouring steps on each side (smoother, less noisy).
STEP_POOLING = 2


def seasonal_period(step_days: float | None) -> int | None:
    """
    The natural season in steps for a time step of `step_days` days: a day for sub-daily steps that divide it, a
    week for daily steps, a year for weekly, monthly and quarterly steps. `None` when there is none (integer
    positions, irregular steps).
    """
    if step_days is None or not np.isfinite(step_days) or step_days <= 0:
        return None
    if step_days < 1.0:
        steps_per_day = 1.0 / step_days
        return int(round(steps_per_day)) if abs(steps_per_day - round(steps_per_day)) < 1e-6 else None
    for length, period in ((1.0, 7), (7.0, 52), (30.0, 12), (91.0, 4)):
        if abs(step_days - length) / length < 0.1:
            return period
    return None


def baseline_forecast(history: np.ndarray, horizon: int, kind: str, period: int | None) -> np.ndarray:
    """
    A naive forecast of one column from its history (floats in time order, NaN = missing).

    Args:
        history (`np.ndarray`): the past values of one series.
        horizon (`int`): number of future steps.
        kind (`str`): `"seasonal"` repeats the value one `period` earlier (the last season, cycled), `"last_value"`
            repeats the last observed value, `"drift"` continues the line from the first to the last observed value
            of the last `period` steps (the whole history without a period): a trend goes on, a season cancels;
            `"damped_trend"` is Holt's linear smoothing with a damped trend (`damped_trend_forecast`), `"holt_winters"`
            the same with an additive season (`holt_winters_forecast`).
        period (`int`, *optional*): the season length in steps (needed for `"seasonal"` and `"holt_winters"`).

    Returns:
        `np.ndarray` of `horizon` floats; NaN where the baseline is not available (history shorter than a season,
        or the needed past cell missing; Holt-Winters needs two seasons).
    """
    result = np.full(horizon, np.nan)
    if kind == "last_value":
        observed = history[~np.isnan(history)]
        if len(observed):
            result[:] = observed[-1]
    elif kind == "drift":
        span = history[len(history) - (period + 1) :] if period else history
        steps = np.flatnonzero(~np.isnan(span))
        if len(steps) >= 2:
            slope = (span[steps[-1]] - span[steps[0]]) / (steps[-1] - steps[0])
            result[:] = span[steps[-1]] + slope * (np.arange(1, horizon + 1) + len(span) - 1 - steps[-1])
    elif kind == "damped_trend":
        result = damped_trend_forecast(history, horizon)
    elif kind == "holt_winters":
        if period is not None:
            result = holt_winters_forecast(history, horizon, period)
    elif kind == "seasonal":
        if period is not None and len(history) >= period:
            season = history[len(history) - period :]
            result[:] = season[np.arange(horizon) % period]
    else:
        raise ValueError(f"Unknown baseline {kind!r}; expected one of {', '.join(map(repr, BASELINES))}.")
    return result


def damped_trend_forecast(history: np.ndarray, horizon: int, max_history: int = 96) -> np.ndarray:
    """
    Holt's exponential smoothing with a damped additive trend, fitted to the last `max_history` observed values of
    `history` (missing cells skipped): the level and slope follow the recent series, and the forecast's slope fades
    by the damping factor per step, so a trend is continued without being extrapolated for ever. The parameters are
    chosen from `DAMPED_TREND_GRID` by one-step-ahead squared error. NaN when fewer than 4 values are observed.
    """
    observed = history[~np.isnan(history)][-max_history:]
    if len(observed) < 4:
        return np.full(horizon, np.nan)
    alpha, beta, phi = (DAMPED_TREND_GRID[:, index] for index in range(3))
    level = np.full(len(DAMPED_TREND_GRID), observed[0])
    trend = np.full(len(DAMPED_TREND_GRID), observed[1] - observed[0])
    squared_error = np.zeros(len(DAMPED_TREND_GRID))
    for value in observed[1:]:
        predicted = level + phi * trend
        squared_error += (value - predicted) ** 2
        new_level = alpha * value + (1 - alpha) * predicted
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        level = new_level
    best = int(np.argmin(squared_error))
    damping = np.cumsum(phi[best] ** np.arange(1, horizon + 1))
    return level[best] + damping * trend[best]


def holt_winters_forecast(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """
    Holt-Winters exponential smoothing with an additive season and a damped additive trend (ETS(A,Ad,A)), fitted to
    the last `HOLT_WINTERS_SEASONS` seasons of `history`: a level and slope that follow the series plus a seasonal
    profile that is updated each season, so a long history of a seasonal series forecasts better than its last
    season alone (which `"seasonal"` repeats, noise included). The first season initialises the profile and level,
    the second the slope; the parameters are chosen from `HOLT_WINTERS_GRID` by one-step-ahead squared error. A
    missing cell is skipped (the state moves on by its own forecast). NaN unless two seasons hold observed values.
    """
    values = np.asarray(history, dtype=float)[-HOLT_WINTERS_SEASONS * period :]
    observed = np.flatnonzero(~np.isnan(values))
    if not len(observed):
        return np.full(horizon, np.nan)
    values = values[observed[0] :]  # the phase of a step is its position from the end, so trimming the start is safe
    if len(values) < 2 * period:
        return np.full(horizon, np.nan)
    first, second = values[:period], values[period : 2 * period]
    if np.isnan(first).all() or np.isnan(second).all():
        return np.full(horizon, np.nan)
    alpha, beta, gamma, phi = (HOLT_WINTERS_GRID[:, index] for index in range(4))
    grid_size = len(HOLT_WINTERS_GRID)
    level = np.full(grid_size, np.nanmean(first))
    trend = np.full(grid_size, (np.nanmean(second) - np.nanmean(first)) / period)
    season = np.tile(np.nan_to_num(first - np.nanmean(first)), (grid_size, 1))
    squared_error = np.zeros(grid_size)
    for step in range(period, len(values)):
        phase = step % period
        predicted_level = level + phi * trend
        value = values[step]
        if np.isnan(value):
            level, trend = predicted_level, phi * trend
            continue
        squared_error += (value - predicted_level - season[:, phase]) ** 2
        new_level = alpha * (value - season[:, phase]) + (1 - alpha) * predicted_level
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        season[:, phase] = gamma * (value - new_level) + (1 - gamma) * season[:, phase]
        level = new_level
    best = int(np.argmin(squared_error))
    damping = np.cumsum(phi[best] ** np.arange(1, horizon + 1))
    return level[best] + damping * trend[best] + season[best, (len(values) + np.arange(horizon)) % period]


def fit_step_weights(center: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, float, float]:
    """
    Per-step baseline weights for one column and one baseline.

    Args:
        center, baseline, truth (`np.ndarray`): `(num_origins, horizon)` model point forecasts, baseline forecasts
            and true values (NaN where unknown).

    Returns:
        `(weights, combined_mae, model_mae)`: the weight of every step (chosen on that step's errors pooled with
        `STEP_POOLING` neighbours on each side), and the mean absolute errors of the combination and of the model
        alone over the cells where all three are known (NaN when there are none).
    """
    known = ~(np.isnan(center) | np.isnan(baseline) | np.isnan(truth))
    horizon = center.shape[1]
    # errors[k, origin, step] of weight k
    combined = center[None] + BASELINE_WEIGHTS[:, None, None] * (baseline - center)[None]
    errors = np.where(known[None], np.abs(combined - truth[None]), 0.0)
    weights = np.zeros(horizon)
    for step in range(horizon):
        steps = slice(max(0, step - STEP_POOLING), min(horizon, step + STEP_POOLING + 1))
        count = known[:, steps].sum()
        if count:
            weights[step] = BASELINE_WEIGHTS[int(np.argmin(errors[:, :, steps].sum(axis=(1, 2))))]
    if not known.any():
        return weights, float("nan"), float("nan")
    chosen = center + weights[None] * (baseline - center)
    combined_mae = float(np.abs(chosen - truth)[known].mean())
    model_mae = float(np.abs(center - truth)[known].mean())
    return weights, combined_mae, model_mae


def combine_with_baseline(
    paths: np.ndarray, center: np.ndarray, baseline: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """
    Move sample paths towards a baseline: `path + w[step] * (baseline - center)`.

    Args:
        paths (`np.ndarray`): `(num_samples, horizon)` forecast paths of one column of one series.
        center (`np.ndarray`): `(horizon,)` their point forecast (the median path).
        baseline (`np.ndarray`): `(horizon,)` the baseline (NaN where unavailable: those steps are left as they are).
        weights (`np.ndarray`): per-step weights; steps beyond their length take the last weight.

    Returns:
        `np.ndarray` shaped like `paths`; cells that are NaN in `paths` (drawn as missing) stay NaN.
    """
    horizon = paths.shape[-1]
    step_weights = np.asarray(weights, dtype=float)[np.minimum(np.arange(horizon), len(weights) - 1)]
    shift = np.where(np.isnan(baseline) | np.isnan(center), 0.0, step_weights * (baseline - center))
    return paths + shift


def values_at(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The values of table rows `rows`, NaN where a row is `-1` (a bridged missing time step)."""
    rows = np.asarray(rows)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan)


def best_baseline(center, values, past, future, horizon, period) -> dict:
    """
    The baseline and per-step weights with the smallest backtest error for one column (see `calibrate_forecasts`).

    `center` is `(num_origins, horizon)` model point forecasts, `values` the column in table rows (floats, NaN =
    missing), `past`/`future` the history rows (`-1` = a missing step) and forecast rows of every origin. Every
    option is scored on the same cells: where a baseline is unavailable the forecast keeps the model's value, as
    `forecast` does; a baseline unavailable on more than `1 - MIN_BASELINE_COVERAGE` of them is not a candidate
    (its weights would be fitted on the few origins that have it).
    """
    truth = values[future]
    scorable = ~(np.isnan(center) | np.isnan(truth))
    options = {}
    for kind in BASELINES if period else ("last_value", "drift", "damped_trend"):
        baseline = np.stack([baseline_forecast(values_at(values, rows), horizon, kind, period) for rows in past])
        available = ~np.isnan(baseline) & scorable
        if available.sum() < MIN_BASELINE_COVERAGE * scorable.sum() or not available.any():
            continue
        weights, combined_mae, model_mae = fit_step_weights(center, np.where(available, baseline, center), truth)
        options[kind] = {
            "baseline": kind,
            "weights": [float(w) for w in weights],
            "model_mae": model_mae,
            "baseline_mae": float(np.abs(baseline - truth)[available].mean()),
            "combined_mae": combined_mae,
        }
    if options:
        best = min(options.values(), key=lambda option: option["combined_mae"])
    else:  # nothing to score on (e.g. the column is missing throughout): keep the model's forecast
        model_mae = float(np.abs(center - truth)[scorable].mean()) if scorable.any() else float("nan")
        best = {
            "baseline": "last_value",
            "weights": [0.0] * horizon,
            "model_mae": model_mae,
            "baseline_mae": float("nan"),
            "combined_mae": model_mae,
        }
    # unknown errors are written as JSON null, not NaN
    return {
        key: (None if isinstance(value, float) and not np.isfinite(value) else value) for key, value in best.items()
    }


def read_forecast_calibration(path: Path) -> dict:
    """Read and check a saved `forecast_calibration.json` (plain JSON; a malformed file is a clear error)."""
    try:
        calibration = json.loads(path.read_text())
        if "columns" not in calibration:
            raise ValueError("no 'columns' entry")
        period = calibration.get("period")
        if period is not None and (not isinstance(period, int) or period < 1):
            raise ValueError(f"'period' must be a positive integer or null, got {period!r}")
        for key in ("columns", "columns_with_future_metadata"):
            for name, setting in calibration.get(key, {}).items():
                weights = setting["weights"]
                if setting["baseline"] not in BASELINES or not weights:
                    raise ValueError(f"column {name!r}: unknown baseline or no weights")
                if not all(isinstance(weight, (int, float)) and 0 <= weight <= 1 for weight in weights):
                    raise ValueError(f"column {name!r}: weights must be numbers in [0, 1]")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{str(path)!r} is not a valid forecast calibration: {error}") from None
    return calibration
