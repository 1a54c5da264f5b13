"""Feature statistics of real vs synthetic windows: associations, autocorrelation, marginals and missing rates."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from ._utils import (
    as_windows,
    check_positive_int,
    check_same_features,
    check_same_length,
    column_values,
    resolve_layout,
    subsample_indices,
)


def correlation_distance(
    real: Any, synthetic: Any, layout: list[dict] | None = None, *, max_rows: int | None = 50_000, seed: int = 0
) -> dict:
    r"""
    Distance between the column association matrices of real and synthetic data.

    Every window step is one row (windows are flattened to `(num_windows * sequence_length, num_features)`), each set
    subsampled to at most `max_rows` rows with `seed`. Each original column is one variable: continuous columns are
    numeric, binary and categorical columns are nominal (one-hot → category index). Associations are computed on the
    rows where both columns are observed:

    - numeric × numeric: Pearson correlation (signed, in [-1, 1]);
    - nominal × nominal: Cramér's V (in [0, 1]); Theil's U (asymmetric) is reported separately;
    - nominal × numeric: correlation ratio η (in [0, 1]).

    Undefined associations (a constant column, fewer than two shared observed rows) are 0.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        layout (`list[dict]`, *optional*):
            Feature layout; `None` treats every feature as a continuous column.
        max_rows (`int`, *optional*, defaults to 50000):
            Cap on the rows used per set; `None` uses all.
        seed (`int`, *optional*, defaults to 0):
            Seed of the row subsampling.

    Returns:
        `dict` with `distance` (`float`, mean absolute difference of the association matrices over column pairs,
        NaN with fewer than two columns), `theil_u_distance` (`float`, the same for Theil's U over ordered pairs of
        nominal columns, NaN with fewer than two), `real` and `synthetic` (`np.ndarray` of shape
        `(num_columns, num_columns)`), `real_theil_u` and `synthetic_theil_u` (same shape, NaN outside nominal pairs),
        `columns` (`list[str]`) and `num_rows` (`int`, rows used per set).
    """
    real, synthetic, layout = _check_pair(real, synthetic, layout)
    if max_rows is not None:
        check_positive_int(max_rows, "max_rows")
    rng = np.random.default_rng(seed)
    matrices = []
    num_rows = 0
    for windows in (real, synthetic):
        rows = windows.reshape(-1, windows.shape[-1])
        rows = rows[subsample_indices(len(rows), max_rows or len(rows), rng)]
        num_rows = max(num_rows, len(rows))
        matrices.append(_association_matrices([column_values(rows, column) for column in layout], layout))
    (real_assoc, real_theil), (synthetic_assoc, synthetic_theil) = matrices
    num_columns = len(layout)
    pairs = np.triu_indices(num_columns, k=1)
    distance = float(np.mean(np.abs(real_assoc - synthetic_assoc)[pairs])) if num_columns > 1 else float("nan")
    theil_difference = np.abs(real_theil - synthetic_theil)[~np.eye(num_columns, dtype=bool)]
    theil_difference = theil_difference[~np.isnan(theil_difference)]
    return {
        "distance": distance,
        "theil_u_distance": float(theil_difference.mean()) if theil_difference.size else float("nan"),
        "real": real_assoc,
        "synthetic": synthetic_assoc,
        "real_theil_u": real_theil,
        "synthetic_theil_u": synthetic_theil,
        "columns": [column["name"] for column in layout],
        "num_rows": int(num_rows),
    }


def autocorrelation_error(
    real: Any, synthetic: Any, max_lag: int | None = None, layout: list[dict] | None = None
) -> dict:
    r"""
    Per-column difference of the autocorrelation functions of real and synthetic windows.

    For every continuous and binary column (categorical columns are skipped), the autocorrelation at lags
    `1..max_lag` is estimated within windows and pooled over all windows: each window is centred on its own mean,
    then `acf(k) = Σ x_t x_{t+k} / Σ x_t²` with both sums over all windows (pairs with a missing end are skipped).
    Pooling keeps windows that are constant (common for binary columns) from dividing by zero. The error of a
    column is the mean over lags of `|acf_real(k) − acf_synthetic(k)|`.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        max_lag (`int`, *optional*):
            Largest lag, `1 <= max_lag < sequence_length`. Defaults to `min(5, sequence_length - 1)`.
        layout (`list[dict]`, *optional*):
            Feature layout; `None` treats every feature as a continuous column.

    Returns:
        `dict` with `mean` (`float`, mean error over columns with a defined ACF, NaN if none), `per_column`
        (`dict[str, float]`), `real_acf` and `synthetic_acf` (`dict[str, list[float]]` of length `max_lag`, lags 1..)
        and `max_lag` (`int`).
    """
    real, synthetic, layout = _check_pair(real, synthetic, layout)
    sequence_length = real.shape[1]
    if sequence_length < 2:
        raise ValueError(f"`real` has sequence length {sequence_length!r}, expected at least 2 for autocorrelation")
    if max_lag is None:
        max_lag = min(5, sequence_length - 1)
    check_positive_int(max_lag, "max_lag")
    if max_lag >= sequence_length:
        raise ValueError(f"`max_lag` got {max_lag!r}, expected less than the sequence length {sequence_length!r}")
    per_column, real_acf, synthetic_acf = {}, {}, {}
    for column in layout:
        if column["kind"] == "categorical":
            continue
        real_values = pooled_autocorrelation(column_values(real, column), max_lag)
        synthetic_values = pooled_autocorrelation(column_values(synthetic, column), max_lag)
        per_column[column["name"]] = float(np.mean(np.abs(real_values - synthetic_values)))
        real_acf[column["name"]] = real_values.tolist()
        synthetic_acf[column["name"]] = synthetic_values.tolist()
    errors = np.array([value for value in per_column.values() if not np.isnan(value)])
    return {
        "mean": float(errors.mean()) if errors.size else float("nan"),
        "per_column": per_column,
        "real_acf": real_acf,
        "synthetic_acf": synthetic_acf,
        "max_lag": int(max_lag),
    }


def pooled_autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    r"""
    Autocorrelation at lags `1..max_lag`, estimated within windows and pooled over windows.

    Args:
        values (`np.ndarray` of shape `(num_windows, sequence_length)`): one column, NaN = missing.
        max_lag (`int`): largest lag.

    Returns:
        `np.ndarray` of shape `(max_lag,)`; NaN where the column has no variation within windows.
    """
    observed = ~np.isnan(values)
    counts = observed.sum(axis=1, keepdims=True)
    means = np.where(counts > 0, np.nansum(values, axis=1, keepdims=True) / np.maximum(counts, 1), 0.0)
    centred = np.where(observed, values - means, 0.0)
    denominator = float(np.sum(centred**2))
    if denominator <= 1e-12 * max(1, int(counts.sum())):
        return np.full(max_lag, np.nan)
    return np.array([np.sum(centred[:, lag:] * centred[:, :-lag]) / denominator for lag in range(1, max_lag + 1)])


def marginal_distances(
    real: Any, synthetic: Any, layout: list[dict] | None = None, *, max_values: int | None = 200_000, seed: int = 0
) -> dict:
    r"""
    Per-column distance between the marginal distributions of real and synthetic cells.

    All observed cells of a column (every window and step) form its sample. Continuous columns use the
    Wasserstein-1 distance (in feature-space units, i.e. roughly standard deviations), on at most `max_values` cells
    per set drawn with `seed`. Binary and categorical columns use the total variation distance
    `0.5 Σ |p_real(c) − p_synthetic(c)|` (in [0, 1]). A column with no observed cell in either set is NaN.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        layout (`list[dict]`, *optional*):
            Feature layout; `None` treats every feature as a continuous column.
        max_values (`int`, *optional*, defaults to 200000):
            Cap on the cells per continuous column and set; `None` uses all.
        seed (`int`, *optional*, defaults to 0):
            Seed of the subsampling.

    Returns:
        `dict` with `mean`, `continuous_mean` and `discrete_mean` (`float`, NaN-ignoring, NaN if empty),
        `per_column` (`dict[str, float]`) and `metric_per_column` (`dict[str, str]`, `"wasserstein_1"` or
        `"total_variation"`).
    """
    real, synthetic, layout = _check_pair(real, synthetic, layout)
    if max_values is not None:
        check_positive_int(max_values, "max_values")
    rng = np.random.default_rng(seed)
    per_column, metric_per_column = {}, {}
    for column in layout:
        real_values = column_values(real, column).ravel()
        synthetic_values = column_values(synthetic, column).ravel()
        real_values = real_values[~np.isnan(real_values)]
        synthetic_values = synthetic_values[~np.isnan(synthetic_values)]
        name = column["name"]
        if column["kind"] == "continuous":
            metric_per_column[name] = "wasserstein_1"
            if real_values.size == 0 or synthetic_values.size == 0:
                per_column[name] = float("nan")
                continue
            real_values = real_values[subsample_indices(real_values.size, max_values or real_values.size, rng)]
            synthetic_values = synthetic_values[
                subsample_indices(synthetic_values.size, max_values or synthetic_values.size, rng)
            ]
            per_column[name] = float(wasserstein_distance(real_values, synthetic_values))
        else:
            metric_per_column[name] = "total_variation"
            if real_values.size == 0 or synthetic_values.size == 0:
                per_column[name] = float("nan")
                continue
            width = max(2, column["stop"] - column["start"])
            real_frequencies = np.bincount(real_values.astype(np.int64), minlength=width) / real_values.size
            synthetic_frequencies = (
                np.bincount(synthetic_values.astype(np.int64), minlength=width) / synthetic_values.size
            )
            per_column[name] = float(0.5 * np.abs(real_frequencies - synthetic_frequencies).sum())

    def nan_mean(kinds: tuple[str, ...]) -> float:
        values = [per_column[c["name"]] for c in layout if c["kind"] in kinds and not np.isnan(per_column[c["name"]])]
        return float(np.mean(values)) if values else float("nan")

    return {
        "mean": nan_mean(("continuous", "binary", "categorical")),
        "continuous_mean": nan_mean(("continuous",)),
        "discrete_mean": nan_mean(("binary", "categorical")),
        "per_column": per_column,
        "metric_per_column": metric_per_column,
    }


def missing_rate_error(real: Any, synthetic: Any, layout: list[dict] | None = None) -> dict:
    r"""
    Per-column absolute difference between the share of missing cells in real and synthetic windows.

    A cell of a categorical column counts as missing when any of its one-hot features is NaN.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        layout (`list[dict]`, *optional*):
            Feature layout; `None` treats every feature as a continuous column.

    Returns:
        `dict` with `mean` (`float`), `per_column`, `real_rates` and `synthetic_rates` (`dict[str, float]`).
    """
    real, synthetic, layout = _check_pair(real, synthetic, layout)
    per_column, real_rates, synthetic_rates = {}, {}, {}
    for column in layout:
        name, columns = column["name"], slice(column["start"], column["stop"])
        real_rates[name] = float(np.isnan(real[..., columns]).any(axis=-1).mean())
        synthetic_rates[name] = float(np.isnan(synthetic[..., columns]).any(axis=-1).mean())
        per_column[name] = abs(real_rates[name] - synthetic_rates[name])
    return {
        "mean": float(np.mean(list(per_column.values()))),
        "per_column": per_column,
        "real_rates": real_rates,
        "synthetic_rates": synthetic_rates,
    }


def _check_pair(real: Any, synthetic: Any, layout: list[dict] | None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Validates a real/synthetic pair of window arrays and resolves the layout against their feature axis."""
    real = as_windows(real, "real")
    synthetic = as_windows(synthetic, "synthetic")
    check_same_features(real, synthetic, "real", "synthetic")
    check_same_length(real, synthetic, "real", "synthetic")
    return real, synthetic, resolve_layout(layout, real.shape[-1])


def _association_matrices(values: list[np.ndarray], layout: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """
    Association matrix (Pearson / Cramér's V / correlation ratio) and Theil's U matrix of a set of columns.

    Args:
        values (`list[np.ndarray]`): one `(num_rows,)` array per column (category indices for nominal columns).
        layout (`list[dict]`): the matching layout entries.

    Returns:
        `tuple[np.ndarray, np.ndarray]` of shape `(num_columns, num_columns)`: the symmetric association matrix and
        Theil's U, `U[i, j] = U(column i | column j)`, NaN unless both columns are nominal.
    """
    num_columns = len(values)
    nominal = [column["kind"] != "continuous" for column in layout]
    association = np.eye(num_columns)
    theil = np.full((num_columns, num_columns), np.nan)
    numeric = [index for index in range(num_columns) if not nominal[index]]
    if numeric:
        pearson = _pairwise_pearson(np.stack([values[index] for index in numeric], axis=1))
        association[np.ix_(numeric, numeric)] = pearson
    for i in range(num_columns):
        for j in range(i + 1, num_columns):
            observed = ~np.isnan(values[i]) & ~np.isnan(values[j])
            first, second = values[i][observed], values[j][observed]
            if nominal[i] and nominal[j]:
                table = _contingency(first, second)
                association[i, j] = association[j, i] = _cramers_v(table)
                theil[i, j], theil[j, i] = _theils_u(table), _theils_u(table.T)
            elif nominal[i] or nominal[j]:
                categories, numbers = (first, second) if nominal[i] else (second, first)
                association[i, j] = association[j, i] = _correlation_ratio(categories, numbers)
    for i in range(num_columns):
        if nominal[i]:
            theil[i, i] = 1.0
    return association, theil


def _pairwise_pearson(matrix: np.ndarray) -> np.ndarray:
    """Pearson correlations of the columns of `(num_rows, num_columns)` on pairwise-complete rows; undefined → 0."""
    observed = (~np.isnan(matrix)).astype(np.float64)
    filled = np.nan_to_num(matrix)
    counts = observed.T @ observed
    sums = filled.T @ observed  # sums[i, j]: sum of column i over rows where column j is observed
    squares = (filled**2).T @ observed
    products = filled.T @ filled
    safe_counts = np.maximum(counts, 1.0)
    covariance = products - sums * sums.T / safe_counts
    variance_first = squares - sums**2 / safe_counts
    variance_second = variance_first.T
    tolerance = 1e-12 * safe_counts
    defined = (counts >= 2) & (variance_first > tolerance) & (variance_second > tolerance)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.sqrt(variance_first * variance_second)
    correlation = np.where(defined, np.clip(correlation, -1.0, 1.0), 0.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def _contingency(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Contingency table of two category-index arrays, without empty rows or columns."""
    first_codes = np.unique(first, return_inverse=True)[1].ravel()
    second_codes = np.unique(second, return_inverse=True)[1].ravel()
    num_second = int(second_codes.max()) + 1 if second_codes.size else 1
    num_first = int(first_codes.max()) + 1 if first_codes.size else 1
    counts = np.bincount(first_codes * num_second + second_codes, minlength=num_first * num_second)
    return counts.reshape(num_first, num_second).astype(np.float64)


def _cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table (0 when a side has a single category or the table is empty)."""
    total = table.sum()
    if total == 0 or min(table.shape) < 2:
        return 0.0
    expected = np.outer(table.sum(1), table.sum(0)) / total
    chi_squared = np.sum((table - expected) ** 2 / expected)
    return float(np.sqrt(chi_squared / total / (min(table.shape) - 1)))


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of a count vector or table."""
    probabilities = counts[counts > 0] / counts.sum()
    return float(-np.sum(probabilities * np.log(probabilities)))


def _theils_u(table: np.ndarray) -> float:
    """Theil's U(rows | columns) = I(rows; columns) / H(rows); 1 when the row variable is constant."""
    if table.sum() == 0:
        return 0.0
    row_entropy = _entropy(table.sum(1))
    if row_entropy <= 0:
        return 1.0
    mutual_information = row_entropy + _entropy(table.sum(0)) - _entropy(table.ravel())
    return float(np.clip(mutual_information / row_entropy, 0.0, 1.0))


def _correlation_ratio(categories: np.ndarray, numbers: np.ndarray) -> float:
    """Correlation ratio η of a numeric variable given a nominal one (0 when undefined)."""
    if numbers.size < 2:
        return 0.0
    codes = np.unique(categories, return_inverse=True)[1].ravel()
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=numbers) / np.maximum(counts, 1)
    total = np.sum((numbers - numbers.mean()) ** 2)
    if total <= 1e-12 * numbers.size:
        return 0.0
    between = np.sum(counts * (means - numbers.mean()) ** 2)
    return float(np.sqrt(np.clip(between / total, 0.0, 1.0)))
