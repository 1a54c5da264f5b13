"""Diagnostic plots of real vs synthetic data (marginals, autocorrelation, sequences, embeddings, forecasts)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._utils import (
    as_windows,
    check_positive_int,
    check_same_features,
    check_same_length,
    column_values,
    resolve_layout,
    subsample_indices,
)
from .statistics import autocorrelation_error

REAL_COLOR = "tab:blue"
SYNTHETIC_COLOR = "tab:orange"


def plot_marginals(
    real_df: pd.DataFrame,
    synthetic_df: pd.DataFrame,
    columns: list[str],
    path: str | os.PathLike,
    *,
    bins: int = 30,
    max_categories: int = 20,
) -> str:
    """
    One panel per column comparing real and synthetic marginals: density histograms on shared bins for numeric
    columns, side-by-side bars of category frequencies (the `max_categories` most frequent in real data) otherwise.

    Args:
        real_df (`pd.DataFrame`): real table in original units.
        synthetic_df (`pd.DataFrame`): synthetic table with the same columns.
        columns (`list[str]`): columns to plot.
        path (`str` or `os.PathLike`): output image (PNG unless the suffix says otherwise).
        bins (`int`, *optional*, defaults to 30): histogram bins.
        max_categories (`int`, *optional*, defaults to 20): bars per categorical panel.

    Returns:
        `str`: the path written.
    """
    if not columns:
        raise ValueError(f"`columns` got {columns!r}, expected at least one column name")
    for frame, name in ((real_df, "real_df"), (synthetic_df, "synthetic_df")):
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__!r}")
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise ValueError(f"`{name}` lacks columns {missing!r}, expected all of `columns`")
    check_positive_int(bins, "bins")
    check_positive_int(max_categories, "max_categories")
    figure, axes = _panels(len(columns))
    for axis, column in zip(axes, columns):
        real, synthetic = real_df[column].dropna(), synthetic_df[column].dropna()
        numeric = all(
            pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            for series in (real_df[column], synthetic_df[column])
        )
        if numeric:
            values = np.concatenate([real.to_numpy(np.float64), synthetic.to_numpy(np.float64)])
            edges = np.histogram_bin_edges(values, bins=bins) if values.size else bins
            axis.hist(real.to_numpy(np.float64), bins=edges, density=True, alpha=0.5, color=REAL_COLOR, label="real")
            axis.hist(
                synthetic.to_numpy(np.float64),
                bins=edges,
                density=True,
                alpha=0.5,
                color=SYNTHETIC_COLOR,
                label="synthetic",
            )
        else:
            real_share = real.astype(str).value_counts(normalize=True)
            synthetic_share = synthetic.astype(str).value_counts(normalize=True)
            categories = list(real_share.index[:max_categories])
            categories += [c for c in synthetic_share.index if c not in categories][: max_categories - len(categories)]
            positions = np.arange(len(categories))
            axis.bar(positions - 0.2, real_share.reindex(categories).fillna(0.0), 0.4, color=REAL_COLOR, label="real")
            axis.bar(
                positions + 0.2,
                synthetic_share.reindex(categories).fillna(0.0),
                0.4,
                color=SYNTHETIC_COLOR,
                label="synthetic",
            )
            axis.set_xticks(positions)
            axis.set_xticklabels(categories, rotation=45, ha="right", fontsize=7)
        axis.set_title(str(column), fontsize=9)
    axes[0].legend(fontsize=8)
    return _save(figure, path)


def plot_autocorrelation(
    real: Any, synthetic: Any, layout: list[dict] | None, path: str | os.PathLike, *, max_lag: int | None = None
) -> str:
    """
    One panel per continuous/binary column with the real and synthetic autocorrelation at lags `1..max_lag`, as
    estimated by [`autocorrelation_error`] (within-window, pooled over windows).

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`): real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`): synthetic windows.
        layout (`list[dict]`, *optional*): feature layout; `None` treats every feature as continuous.
        path (`str` or `os.PathLike`): output image.
        max_lag (`int`, *optional*): largest lag, defaults to `min(sequence_length - 1, 10)`.

    Returns:
        `str`: the path written.
    """
    real = as_windows(real, "real")
    if max_lag is None:
        max_lag = max(1, min(real.shape[1] - 1, 10))
    result = autocorrelation_error(real, synthetic, max_lag=max_lag, layout=layout)
    names = list(result["real_acf"])
    figure, axes = _panels(max(1, len(names)))
    lags = np.arange(1, max_lag + 1)
    for axis, name in zip(axes, names):
        axis.plot(lags, result["real_acf"][name], marker="o", color=REAL_COLOR, label="real")
        axis.plot(lags, result["synthetic_acf"][name], marker="o", color=SYNTHETIC_COLOR, label="synthetic")
        axis.axhline(0.0, color="grey", linewidth=0.5)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("lag", fontsize=8)
    if names:
        axes[0].legend(fontsize=8)
    else:
        axes[0].text(0.5, 0.5, "no continuous or binary columns", ha="center", va="center")
    return _save(figure, path)


def plot_sequences(
    real: Any,
    synthetic: Any,
    layout: list[dict] | None,
    path: str | os.PathLike,
    num: int = 4,
    *,
    max_columns: int = 6,
) -> str:
    """
    A few real (left) and synthetic (right) sequences, one row per column (the first `max_columns` columns).
    Categorical columns are drawn as their category index (step lines). Windows are picked evenly spaced through
    each array, so the choice is deterministic.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`): real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`): synthetic windows.
        layout (`list[dict]`, *optional*): feature layout; `None` treats every feature as continuous.
        path (`str` or `os.PathLike`): output image.
        num (`int`, *optional*, defaults to 4): sequences per side.
        max_columns (`int`, *optional*, defaults to 6): rows of panels.

    Returns:
        `str`: the path written.
    """
    real = as_windows(real, "real")
    synthetic = as_windows(synthetic, "synthetic")
    check_same_features(real, synthetic, "real", "synthetic")
    check_positive_int(num, "num")
    check_positive_int(max_columns, "max_columns")
    layout = resolve_layout(layout, real.shape[-1])[:max_columns]
    figure = _figure(figsize=(10, 2.2 * len(layout)))
    axes = figure.subplots(len(layout), 2, squeeze=False)
    for side, (windows, label, color) in enumerate(
        ((real, "real", REAL_COLOR), (synthetic, "synthetic", SYNTHETIC_COLOR))
    ):
        picks = np.unique(np.linspace(0, len(windows) - 1, min(num, len(windows))).round().astype(int))
        for row, column in enumerate(layout):
            axis = axes[row, side]
            values = column_values(windows[picks], column)
            for sequence in values:
                if column["kind"] == "continuous":
                    axis.plot(sequence, color=color, alpha=0.7)
                else:
                    axis.step(np.arange(len(sequence)), sequence, where="mid", color=color, alpha=0.7)
            axis.set_title(f"{label}: {column['name']}", fontsize=9)
    return _save(figure, path)


def plot_embedding(
    real: Any,
    synthetic: Any,
    path: str | os.PathLike,
    method: str = "pca",
    *,
    max_windows: int = 1000,
    seed: int = 0,
) -> str:
    """
    2-D embedding of flattened windows (NaN → 0), real and synthetic in one scatter plot. PCA is fitted on both sets
    together; `"tsne"` uses scikit-learn's t-SNE (slower). At most `max_windows` windows per set are drawn with `seed`.

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`): real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`): synthetic windows.
        path (`str` or `os.PathLike`): output image.
        method (`str`, *optional*, defaults to `"pca"`): `"pca"` or `"tsne"`.
        max_windows (`int`, *optional*, defaults to 1000): windows per set.
        seed (`int`, *optional*, defaults to 0): seed of the subsampling and of t-SNE.

    Returns:
        `str`: the path written.
    """
    real = as_windows(real, "real")
    synthetic = as_windows(synthetic, "synthetic")
    check_same_features(real, synthetic, "real", "synthetic")
    check_same_length(real, synthetic, "real", "synthetic")
    if method not in ("pca", "tsne"):
        raise ValueError(f"`method` got {method!r}, expected 'pca' or 'tsne'")
    check_positive_int(max_windows, "max_windows")
    rng = np.random.default_rng(seed)
    parts = []
    for windows in (real, synthetic):
        chosen = windows[subsample_indices(len(windows), max_windows, rng)]
        parts.append(np.nan_to_num(chosen.reshape(len(chosen), -1)))
    stacked = np.concatenate(parts)
    if method == "pca":
        from sklearn.decomposition import PCA

        embedded = PCA(n_components=min(2, *stacked.shape), random_state=seed).fit_transform(stacked)
    else:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(stacked) - 1) / 3)))
        embedded = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(stacked)
    if embedded.shape[1] < 2:
        embedded = np.concatenate([embedded, np.zeros((len(embedded), 1))], axis=1)
    figure = _figure(figsize=(5, 5))
    axis = figure.subplots()
    num_real = len(parts[0])
    axis.scatter(*embedded[:num_real].T, s=6, alpha=0.4, color=REAL_COLOR, label="real")
    axis.scatter(*embedded[num_real:].T, s=6, alpha=0.4, color=SYNTHETIC_COLOR, label="synthetic")
    axis.set_title(method.upper() if method == "pca" else "t-SNE", fontsize=10)
    axis.legend(fontsize=8)
    return _save(figure, path)


def plot_forecast(
    history_df: pd.DataFrame,
    truth_df: pd.DataFrame | None,
    samples_df: pd.DataFrame | list[pd.DataFrame],
    column: str,
    path: str | os.PathLike,
    time_column: str | None = None,
    *,
    sample_column: str = "sample",
) -> str:
    """
    Forecast of one column: the history as a line, the true future (if given), and the median and 10-90% band of
    the sampled futures.

    Args:
        history_df (`pd.DataFrame`): observed past rows, in time order.
        truth_df (`pd.DataFrame`, *optional*): true future rows, in time order.
        samples_df (`pd.DataFrame` or `list[pd.DataFrame]`):
            Sampled futures: either one frame per sample, or one long frame whose `sample_column` identifies the
            sample; rows of a sample in time order, every sample with the same number of rows.
        column (`str`): numeric column to plot.
        path (`str` or `os.PathLike`): output image.
        time_column (`str`, *optional*): x-axis column; without it the x-axis is the step index (history first).
        sample_column (`str`, *optional*, defaults to `"sample"`): sample id column of a long `samples_df`.

    Returns:
        `str`: the path written.
    """
    if isinstance(samples_df, pd.DataFrame):
        if sample_column not in samples_df.columns:
            raise ValueError(
                f"`samples_df` has no sample id column {sample_column!r}, got columns {list(samples_df.columns)!r}, "
                "expected a long frame with `sample_column` or a list of frames"
            )
        samples = [group for _, group in samples_df.groupby(sample_column, sort=True)]
    else:
        samples = list(samples_df)
    if not samples:
        raise ValueError("`samples_df` holds no sample, expected at least one")
    frames = [(history_df, "history_df")] + ([(truth_df, "truth_df")] if truth_df is not None else [])
    for frame, name in frames + [(sample, "samples_df") for sample in samples]:
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__!r}")
        for required in [column] + ([time_column] if time_column else []):
            if required not in frame.columns:
                raise ValueError(f"`{name}` has no column {required!r}, expected it to be present")
    horizon = len(samples[0])
    if any(len(sample) != horizon for sample in samples):
        raise ValueError(
            f"`samples_df` samples have lengths {sorted({len(s) for s in samples})!r}, expected one length"
        )
    values = np.stack([sample[column].to_numpy(np.float64) for sample in samples])
    if time_column:
        history_x = history_df[time_column].to_numpy()
        future_x = samples[0][time_column].to_numpy()
        truth_x = truth_df[time_column].to_numpy() if truth_df is not None else None
    else:
        history_x = np.arange(len(history_df))
        future_x = np.arange(len(history_df), len(history_df) + horizon)
        truth_x = np.arange(len(history_df), len(history_df) + len(truth_df)) if truth_df is not None else None
    low, median, high = np.nanquantile(values, [0.1, 0.5, 0.9], axis=0)
    figure = _figure(figsize=(9, 3.5))
    axis = figure.subplots()
    axis.plot(history_x, history_df[column].to_numpy(np.float64), color="black", label="history")
    if truth_df is not None:
        axis.plot(truth_x, truth_df[column].to_numpy(np.float64), color=REAL_COLOR, label="truth")
    axis.fill_between(future_x, low, high, color=SYNTHETIC_COLOR, alpha=0.3, label="10-90%")
    axis.plot(future_x, median, color=SYNTHETIC_COLOR, label="median")
    axis.set_title(str(column), fontsize=10)
    axis.legend(fontsize=8)
    if time_column and np.issubdtype(np.asarray(future_x).dtype, np.datetime64):
        figure.autofmt_xdate()
    return _save(figure, path)


def _figure(figsize: tuple[float, float]) -> Any:
    """A standalone matplotlib `Figure` (no pyplot state, Agg canvas), imported lazily."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def _panels(num_panels: int, max_columns: int = 3) -> tuple[Any, list[Any]]:
    """A figure with a grid of `num_panels` axes (unused grid cells hidden)."""
    num_columns = min(max_columns, num_panels)
    num_rows = math.ceil(num_panels / num_columns)
    figure = _figure(figsize=(4 * num_columns, 3 * num_rows))
    axes = list(figure.subplots(num_rows, num_columns, squeeze=False).ravel())
    for axis in axes[num_panels:]:
        axis.set_visible(False)
    return figure, axes[:num_panels]


def _save(figure: Any, path: str | os.PathLike) -> str:
    """Lays out and writes the figure, creating parent folders; returns the path as a string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return str(path)
