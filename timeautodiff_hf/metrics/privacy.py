"""Privacy check: distance from synthetic windows to their closest training and holdout windows (DCR)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._utils import as_windows, check_positive_int, check_same_features, check_same_length, subsample_indices

EXACT_COPY_TOLERANCE = 1e-8
CHUNK_SIZE = 512


def distance_to_closest_record(
    synthetic: Any, train: Any, holdout: Any, *, max_windows: int | None = 2000, seed: int = 0
) -> dict:
    r"""
    Distance to closest record (DCR) of synthetic windows to the generator's training windows and to holdout windows.

    Protocol:

    1. Windows are flattened to vectors of `sequence_length * num_features` values, NaN replaced by 0.
    2. At most `max_windows` synthetic windows are drawn with `seed`. `train` and `holdout` are both subsampled to
       the same count `min(len(train), len(holdout), max_windows)`, so neither reference set is favoured by size.
    3. For every synthetic window, the Euclidean distance to its nearest neighbour in each reference set is
       computed (candidates from a chunked matrix product, the winner's distance recomputed exactly).
    4. `share_closer_to_train` is the share of synthetic windows strictly closer to a training window than to any
       holdout window (ties count one half). About 0.5 means no sign of memorisation; close to 1 means the generator
       reproduces its training windows. `exact_copies` counts synthetic windows within 1e-8 of a training window.

    Because of the subsampling in step 2, memorised training windows that are not drawn are not seen; pass
    `max_windows=None` to compare against every window (quadratic cost). Holdout windows should not overlap the
    training windows in time, otherwise overlapping stride-1 windows make both sets look "memorised".

    Args:
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        train (`np.ndarray` of shape `(num_train, sequence_length, num_features)`):
            Windows the generator was trained on.
        holdout (`np.ndarray` of shape `(num_holdout, sequence_length, num_features)`):
            Real windows the generator never saw.
        max_windows (`int`, *optional*, defaults to 2000):
            Cap on the windows per set; `None` uses all (train and holdout still get the same count).
        seed (`int`, *optional*, defaults to 0):
            Seed of the subsampling.

    Returns:
        `dict` with `dcr_train_median`, `dcr_train_p5`, `dcr_holdout_median`, `dcr_holdout_p5` (`float`),
        `share_closer_to_train` (`float`), `exact_copies` (`int`), `num_synthetic_windows` and
        `num_reference_windows` (`int`).
    """
    synthetic = as_windows(synthetic, "synthetic")
    train = as_windows(train, "train")
    holdout = as_windows(holdout, "holdout")
    for array, name in ((train, "train"), (holdout, "holdout")):
        check_same_features(synthetic, array, "synthetic", name)
        check_same_length(synthetic, array, "synthetic", name)
    if max_windows is not None:
        check_positive_int(max_windows, "max_windows")
    rng = np.random.default_rng(seed)
    num_synthetic = min(len(synthetic), max_windows or len(synthetic))
    num_reference = min(len(train), len(holdout), max_windows or len(train))
    synthetic = _flatten(synthetic[subsample_indices(len(synthetic), num_synthetic, rng)])
    train = _flatten(train[subsample_indices(len(train), num_reference, rng)])
    holdout = _flatten(holdout[subsample_indices(len(holdout), num_reference, rng)])

    to_train = nearest_distances(synthetic, train)
    to_holdout = nearest_distances(synthetic, holdout)
    share = np.mean(to_train < to_holdout) + 0.5 * np.mean(to_train == to_holdout)
    return {
        "dcr_train_median": float(np.median(to_train)),
        "dcr_train_p5": float(np.percentile(to_train, 5)),
        "dcr_holdout_median": float(np.median(to_holdout)),
        "dcr_holdout_p5": float(np.percentile(to_holdout, 5)),
        "share_closer_to_train": float(share),
        "exact_copies": int(np.sum(to_train < EXACT_COPY_TOLERANCE)),
        "num_synthetic_windows": int(num_synthetic),
        "num_reference_windows": int(num_reference),
    }


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """
    Euclidean distance from each query vector to its nearest reference vector.

    Candidates come from `|q|² + |r|² − 2 q·r` in chunks of 512 queries; the distance to the chosen neighbour is
    then recomputed directly, so identical vectors give exactly 0 (the expanded form can leave ~1e-7 residues).

    Args:
        queries (`np.ndarray` of shape `(num_queries, dim)`): query vectors, float64.
        references (`np.ndarray` of shape `(num_references, dim)`): reference vectors, float64.

    Returns:
        `np.ndarray` of shape `(num_queries,)`.
    """
    reference_norms = np.einsum("ij,ij->i", references, references)
    distances = np.empty(len(queries))
    for start in range(0, len(queries), CHUNK_SIZE):
        chunk = queries[start : start + CHUNK_SIZE]
        squared = reference_norms[None, :] - 2.0 * chunk @ references.T
        nearest = np.argmin(squared, axis=1)
        distances[start : start + CHUNK_SIZE] = np.linalg.norm(chunk - references[nearest], axis=1)
    return distances


def _flatten(windows: np.ndarray) -> np.ndarray:
    """`(num_windows, sequence_length, num_features)` → `(num_windows, sequence_length * num_features)`, NaN → 0."""
    return np.nan_to_num(windows.reshape(len(windows), -1), nan=0.0)
