"""Pictures of tables: real vs synthetic sequences and marginals, forecast fans (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .processing_timeautodiff import category_key, category_lookup


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _sequence_key(frame: pd.DataFrame, processor) -> str | None:
    for name in ("sequence_id", processor.entity_column):
        if name is not None and name in frame.columns:
            return name
    return None


def _plot_columns(processor, columns: list[str] | None, limit: int) -> list[str]:
    if columns:
        return list(columns)
    continuous = [c["name"] for c in processor.columns if c["kind"] == "continuous" and c["role"] != "metadata"]
    others = [c["name"] for c in processor.columns if c["name"] not in continuous]
    return (continuous + others)[:limit]


def plot_generated_sequences(
    synthetic: pd.DataFrame,
    processor,
    path: str | os.PathLike,
    real: pd.DataFrame | None = None,
    columns: list[str] | None = None,
    num_sequences: int = 4,
) -> Path:
    """
    Line plots of a few sequences per column (synthetic, and real windows of the same length beside them), plus the
    marginal distribution of each column (real vs synthetic) when `real` is given.

    Args:
        synthetic (`pd.DataFrame`): output of `pipe.generate`/`pipe(...)`.
        processor (`TimeAutoDiffProcessor`): the fitted processor (for column kinds and the window length).
        path (`str` or `os.PathLike`): PNG to write.
        real (`pd.DataFrame`, *optional*): real table to compare with.
        columns (`list[str]`, *optional*): columns to show (default: up to 4, continuous first).
        num_sequences (`int`, *optional*, defaults to 4): sequences drawn per panel.

    Returns:
        `Path` of the PNG.
    """
    plt = _pyplot()
    columns = _plot_columns(processor, columns, 4)
    num_panels = 2 if real is not None else 1
    figure, axes = plt.subplots(
        len(columns),
        num_panels + (1 if real is not None else 0),
        figsize=(4.5 * (num_panels + (real is not None)), 2.6 * len(columns)),
        squeeze=False,
    )
    key = _sequence_key(synthetic, processor)
    groups = list(synthetic.groupby(key, sort=False)) if key else [(0, synthetic)]
    length = len(groups[0][1]) if groups else processor.sequence_length
    real_windows = []
    if real is not None:
        rng = np.random.default_rng(0)
        ordered = real.sort_values(processor.time_column) if processor.time_column else real
        if processor.entity_column:
            pieces = [
                group for _, group in ordered.groupby(processor.entity_column, sort=False) if len(group) >= length
            ]
        else:
            pieces = [ordered]
        for _ in range(num_sequences):
            piece = pieces[rng.integers(len(pieces))] if pieces else ordered
            start = int(rng.integers(0, max(1, len(piece) - length + 1)))
            real_windows.append(piece.iloc[start : start + length])
    for row, name in enumerate(columns):
        column = next(c for c in processor.columns if c["name"] == name)
        kind = column["kind"]
        for _, group in groups[:num_sequences]:
            axes[row][0].plot(np.arange(len(group)), _numeric(group[name], processor, name), alpha=0.8)
        axes[row][0].set_title(f"synthetic: {name}", fontsize=9)
        if kind != "continuous":  # lines are drawn at category indices: label the axis with the categories
            for axis in axes[row][:num_panels]:
                axis.yaxis.set_major_locator(_integer_locator())
                axis.yaxis.set_major_formatter(category_tick_formatter(column["categories"]))
        if real is not None:
            for window in real_windows:
                axes[row][1].plot(np.arange(len(window)), _numeric(window[name], processor, name), alpha=0.8)
            axes[row][1].set_title(f"real: {name}", fontsize=9)
            marginal = axes[row][2]
            if kind == "continuous":
                bins = np.histogram_bin_edges(pd.to_numeric(real[name], errors="coerce").dropna(), bins=30)
                marginal.hist(
                    pd.to_numeric(real[name], errors="coerce").dropna(),
                    bins=bins,
                    alpha=0.5,
                    density=True,
                    label="real",
                )
                marginal.hist(
                    pd.to_numeric(synthetic[name], errors="coerce").dropna(),
                    bins=bins,
                    alpha=0.5,
                    density=True,
                    label="synthetic",
                )
            else:
                labels, real_share, synthetic_share = category_shares(real[name], synthetic[name], processor, name)
                positions = np.arange(len(labels))
                marginal.bar(positions - 0.2, real_share, width=0.4, label="real")
                marginal.bar(positions + 0.2, synthetic_share, width=0.4, label="synthetic")
                marginal.set_xticks(positions, labels, rotation=45, fontsize=7)
                # headroom for the legend above the bars (24 even hour bars leave no empty corner)
                marginal.set_ylim(0, 1.3 * max(real_share.max(initial=0), synthetic_share.max(initial=0), 1e-9))
            marginal.set_title(f"marginal: {name}", fontsize=9)
            marginal.legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def category_shares(
    real: pd.Series, synthetic: pd.Series, processor, name: str, max_bars: int = 24
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """
    Bar labels and shares of a discrete column's categories, real and synthetic, in vocabulary order (hours 0-23 as
    0-23). Beyond `max_bars` categories (24: every hour of a day), the real data's most frequent ones are kept and
    the rest pooled as "other". Values are matched to the vocabulary as the processor matches them (1.0 read back
    from a CSV is category 1).
    """
    column = next(c for c in processor.columns if c["name"] == name)
    categories = column.get("categories") or []
    real_share = _category_counts(real, categories)
    synthetic_share = _category_counts(synthetic, categories)
    real_share, synthetic_share = (
        real_share / max(real_share.sum(), 1),
        synthetic_share / max(synthetic_share.sum(), 1),
    )
    keep = np.arange(len(categories))
    if len(categories) > max_bars:
        keep = np.sort(np.argsort(-real_share, kind="stable")[: max_bars - 1])
    labels = [str(categories[index]) for index in keep]
    real_values, synthetic_values = real_share[keep], synthetic_share[keep]
    if len(keep) < len(categories):
        labels.append("other")
        real_values = np.append(real_values, max(0.0, 1.0 - real_values.sum()))
        synthetic_values = np.append(synthetic_values, max(0.0, 1.0 - synthetic_values.sum()))
    return labels, real_values, synthetic_values


def category_tick_formatter(categories: list):
    """Matplotlib tick formatter that writes a category index as its category (empty between categories)."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _position) -> str:
        index = int(round(value))
        return str(categories[index]) if abs(value - index) < 1e-6 and 0 <= index < len(categories) else ""

    return FuncFormatter(label)


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=8, integer=True)


def _category_counts(series: pd.Series, categories: list) -> np.ndarray:
    """How often each vocabulary category occurs in `series` (missing and unknown values not counted)."""
    codes = _category_codes(series, categories)
    return np.bincount(codes[codes >= 0].astype(int), minlength=len(categories)).astype(float)


def _category_codes(series: pd.Series, categories: list) -> np.ndarray:
    """Vocabulary index per value, NaN for missing or unknown values."""
    lookup = category_lookup(categories)
    return np.array(
        [np.nan if pd.isna(value) else lookup.get(category_key(value), np.nan) for value in series], dtype=float
    )


def _numeric(series: pd.Series, processor, name: str) -> np.ndarray:
    """Category indices for discrete columns (so they can be drawn as lines), numbers otherwise."""
    column = next(c for c in processor.columns if c["name"] == name)
    if column["kind"] == "continuous":
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return _category_codes(series, column["categories"])


def plot_forecast_fan(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    processor,
    path: str | os.PathLike,
    column: str | None = None,
    truth: pd.DataFrame | None = None,
    history_steps: int = 72,
) -> Path:
    """
    History, median forecast and 10-90 % band of the first entity's forecast (see `metrics.plot_forecast`).

    Args:
        history (`pd.DataFrame`): the history given to `pipe.forecast`.
        forecast (`pd.DataFrame`): its output (one draw, or several with a `sample` column).
        processor (`TimeAutoDiffProcessor`): the fitted processor.
        path (`str` or `os.PathLike`): PNG to write.
        column (`str`, *optional*): continuous column to show (default: the first continuous non-metadata one).
        truth (`pd.DataFrame`, *optional*): the real future, drawn for comparison.
        history_steps (`int`, *optional*, defaults to 72): how much history to show.

    Returns:
        `Path` of the PNG.
    """
    from .metrics import plot_forecast

    column = column or _plot_columns(processor, None, 1)[0]
    time_column, entity_column = processor.time_column, processor.entity_column
    frames = {"history": history, "forecast": forecast, "truth": truth}
    if entity_column:
        entity = forecast[entity_column].iloc[0]
        frames = {
            key: None if frame is None else frame[frame[entity_column] == entity] for key, frame in frames.items()
        }
    if time_column and processor.time_info["kind"] == "datetime":
        # Tables read from CSV hold the time as text: parse it so that history and forecast share one axis.
        frames = {
            key: None if frame is None else frame.assign(**{time_column: pd.to_datetime(frame[time_column])})
            for key, frame in frames.items()
        }
    history = frames["history"].sort_values(time_column) if time_column else frames["history"]
    samples = frames["forecast"] if "sample" in forecast.columns else frames["forecast"].assign(sample=0)
    return Path(plot_forecast(history.tail(history_steps), frames["truth"], samples, column, path, time_column))
