"""Shared input checks, layout handling, splitting and tiny GRU helpers for the evaluation metrics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

COLUMN_KINDS = ("continuous", "binary", "categorical")


def as_windows(array: Any, name: str) -> np.ndarray:
    """
    Converts windows to a float64 numpy array and checks their shape.

    Args:
        array (array-like of shape `(num_windows, sequence_length, num_features)`):
            Windows in feature space; NaN marks missing cells. Torch tensors are moved to CPU.
        name (`str`):
            Argument name used in error messages.

    Returns:
        `np.ndarray` of shape `(num_windows, sequence_length, num_features)`, float64.
    """
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    try:
        windows = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`{name}` must be a numeric array, got {type(array).__name__!r}") from error
    if windows.ndim != 3:
        raise ValueError(
            f"`{name}` must have shape (num_windows, sequence_length, num_features), got shape {windows.shape!r}"
        )
    if min(windows.shape) == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {windows.shape!r}, expected all dimensions > 0")
    if np.isinf(windows).any():
        raise ValueError(
            f"`{name}` contains infinite values, got {int(np.isinf(windows).sum())!r} of them, expected none"
        )
    return windows


def check_same_features(first: np.ndarray, second: np.ndarray, first_name: str, second_name: str) -> None:
    """Raises a `ValueError` naming `second_name` when the feature dimensions of two window arrays differ."""
    if first.shape[-1] != second.shape[-1]:
        raise ValueError(
            f"`{second_name}` has {second.shape[-1]!r} features, expected {first.shape[-1]!r} like `{first_name}`"
        )


def check_same_length(first: np.ndarray, second: np.ndarray, first_name: str, second_name: str) -> None:
    """Raises a `ValueError` naming `second_name` when the sequence lengths of two window arrays differ."""
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"`{second_name}` has sequence length {second.shape[1]!r}, expected {first.shape[1]!r} like `{first_name}`"
        )


def check_positive_int(value: Any, name: str) -> None:
    """Raises a `ValueError` unless `value` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")


def check_fraction(value: Any, name: str) -> None:
    """Raises a `ValueError` unless `value` is a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be a number strictly between 0 and 1, got {value!r}")


def resolve_layout(layout: list[dict] | None, num_features: int) -> list[dict]:
    """
    Validates a feature layout, or builds the all-continuous one when `layout` is `None`.

    Args:
        layout (`list[dict]`, *optional*):
            One dict per original column with keys `name`, `kind` (`"continuous"`, `"binary"` or `"categorical"`),
            `start` and `stop` (its slice of the feature axis).
        num_features (`int`):
            Size of the feature axis of the windows.

    Returns:
        `list[dict]`: a validated copy of the layout.
    """
    if layout is None:
        return [{"name": f"feature_{i}", "kind": "continuous", "start": i, "stop": i + 1} for i in range(num_features)]
    if not isinstance(layout, (list, tuple)) or len(layout) == 0:
        raise ValueError(f"`layout` must be a non-empty list of column dicts, got {layout!r}")
    resolved = []
    for index, column in enumerate(layout):
        if not isinstance(column, dict) or not {"name", "kind", "start", "stop"} <= set(column):
            raise ValueError(f"`layout[{index}]` must be a dict with name, kind, start and stop, got {column!r}")
        kind, start, stop = column["kind"], int(column["start"]), int(column["stop"])
        if kind not in COLUMN_KINDS:
            raise ValueError(f"`layout[{index}]['kind']` got {kind!r}, expected one of {COLUMN_KINDS!r}")
        if not 0 <= start < stop <= num_features:
            raise ValueError(
                f"`layout[{index}]` slice got {(start, stop)!r}, expected 0 <= start < stop <= {num_features!r}"
            )
        if kind != "categorical" and stop - start != 1:
            raise ValueError(f"`layout[{index}]` is {kind!r} with width {stop - start!r}, expected width 1")
        resolved.append({"name": str(column["name"]), "kind": kind, "start": start, "stop": stop})
    return resolved


def column_values(windows: np.ndarray, column: dict) -> np.ndarray:
    """
    One original column of feature-space windows as a single value per cell.

    Continuous columns keep their value, binary columns are rounded to 0/1 and categorical columns become the index
    of their largest one-hot feature. Cells with any NaN feature are NaN.

    Args:
        windows (`np.ndarray` of shape `(..., num_features)`): feature-space values.
        column (`dict`): one layout entry.

    Returns:
        `np.ndarray` of shape `windows.shape[:-1]`, float64.
    """
    part = windows[..., column["start"] : column["stop"]]
    missing = np.isnan(part).any(axis=-1)
    if column["kind"] == "categorical":
        values = np.argmax(np.nan_to_num(part, nan=-np.inf), axis=-1).astype(np.float64)
    elif column["kind"] == "binary":
        values = (part[..., 0] > 0.5).astype(np.float64)
    else:
        values = part[..., 0].copy()
    values[missing] = np.nan
    return values


def with_observation_mask(windows: np.ndarray, include_mask: bool) -> np.ndarray:
    """Replaces NaN by 0 and, if `include_mask`, appends the observation mask (1 = observed) as extra features."""
    values = np.nan_to_num(windows, nan=0.0)
    if not include_mask:
        return values
    return np.concatenate([values, (~np.isnan(windows)).astype(np.float64)], axis=-1)


def subsample_indices(num_items: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of `count` items drawn without replacement (all items, in order, when `count >= num_items`)."""
    if count >= num_items:
        return np.arange(num_items)
    return np.sort(rng.choice(num_items, size=count, replace=False))


def interleaved_block_split(num_windows: int, num_blocks: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """
    Splits window indices into two halves made of alternating contiguous blocks.

    Consecutive windows overlap (stride 1), so a random split would put near-copies on both sides. Alternating
    blocks keep most neighbours together while both halves still cover the whole time range.

    Args:
        num_windows (`int`): number of windows (at least 2).
        num_blocks (`int`, *optional*, defaults to 10): number of blocks, even blocks go to the first half.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: indices of the first and second half.
    """
    if num_windows < 2:
        raise ValueError(f"Splitting needs at least 2 windows, got {num_windows!r}")
    blocks = np.array_split(np.arange(num_windows), min(num_blocks, num_windows))
    first = np.concatenate(blocks[0::2])
    second = np.concatenate(blocks[1::2])
    return first, second


def default_hidden_size(num_features: int) -> int:
    """Hidden size of the post-hoc GRUs: `num_features // 2`, at least 4 and at most 32."""
    return int(min(32, max(4, num_features // 2)))


def derive_seeds(seed: int, count: int) -> list[int]:
    """`count` independent 63-bit seeds derived from `seed` with `np.random.SeedSequence`."""
    states = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    return [int(state) >> 1 for state in states]


def to_jsonable(value: Any) -> Any:
    """Recursively converts numpy/torch values to plain Python so `json.dumps` works; NaN and inf become `None`."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
