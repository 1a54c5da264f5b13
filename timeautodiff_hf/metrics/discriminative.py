"""Post-hoc discriminative scores (TimeGAN protocol): how well a small GRU tells real from synthetic windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._gru import EnsembleGRU, time_major
from ._utils import (
    as_windows,
    check_fraction,
    check_positive_int,
    check_same_features,
    check_same_length,
    default_hidden_size,
    derive_seeds,
    subsample_indices,
    with_observation_mask,
)

BATCH_SIZE = 128
LEARNING_RATE = 5e-3
EVAL_BATCH_SIZE = 256


def discriminative_score(
    real: Any,
    synthetic: Any,
    *,
    num_repeats: int = 3,
    num_steps: int = 400,
    hidden_size: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_windows: int | None = 3000,
    real_groups: Any | None = None,
    synthetic_groups: Any | None = None,
) -> dict:
    r"""
    Discriminative score: |balanced accuracy − 0.5| of a post-hoc GRU classifier of real vs synthetic windows.

    Protocol (TimeGAN, Yoon et al. 2019, with a balanced, fixed-budget variant):

    1. Both sets are subsampled without replacement to the same count `n = min(len(real), len(synthetic),
       max_windows)`, so the classes are balanced and the cost is bounded.
    2. Each class is split into train/test windows (`test_fraction` of each class is held out). A class with
       groups (`real_groups`, `synthetic_groups`) holds out whole groups, and its test windows are `test_fraction`
       of the windows drawn from them; both classes' training parts are then cut to the same count.
    3. A 2-layer GRU (hidden size `hidden_size`) with a linear head on the last hidden state is trained for exactly
       `num_steps` Adam steps (batch 128, lr 5e-3) with a binary cross-entropy loss. The repeats are trained side by
       side as one batched ensemble of independent models.
    4. The score is |balanced accuracy − 0.5| on the test windows: 0 means indistinguishable, 0.5 means perfectly
       separable.
    5. Steps 1-4 are repeated `num_repeats` times with seeds derived from `seed` (new subsample, split,
       initialisation and batch order each time).

    Why groups: stride-1 windows cut from one series overlap, so with a random split almost every held-out real
    window has a near-copy among the training windows, and the classifier can score by recognising them rather than
    by anything a generator got wrong (independent samples have no such copies). Give each real window the time block
    it comes from (e.g. `row // (10 * sequence_length)`) and the score measures the difference of distributions
    only: on the hurricane panel, real vs real windows of other blocks scores 0.14 with a random split and 0.04 with
    held-out blocks.

    NaN cells are replaced by 0 and, when either set has missing cells, the observation mask (1 = observed) is
    appended as extra features, so different missingness patterns are detectable. All randomness comes from numpy
    generators seeded from `seed` (no global RNG is read or changed), so a fixed `seed` gives identical results on
    the same machine. The GRUs are small numpy models with a hand-written backward pass (see `_gru.EnsembleGRU`
    for why not `torch.nn.GRU`).

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        num_repeats (`int`, *optional*, defaults to 3):
            Independent repetitions.
        num_steps (`int`, *optional*, defaults to 400):
            Optimisation steps per repetition.
        hidden_size (`int`, *optional*):
            GRU hidden size. Defaults to `num_features // 2`, at least 4 and at most 32.
        test_fraction (`float`, *optional*, defaults to 0.2):
            Share of each class held out for scoring.
        seed (`int`, *optional*, defaults to 0):
            Seed from which the per-repeat seeds are derived.
        max_windows (`int`, *optional*, defaults to 3000):
            Cap on the windows used per class; `None` uses all.
        real_groups (array-like of shape `(num_real,)`, *optional*):
            A group label per real window (e.g. its time block); the real test windows are then whole held-out
            groups. Needs at least two groups.
        synthetic_groups (array-like of shape `(num_synthetic,)`, *optional*):
            The same for the synthetic windows (for a real-vs-real floor whose second set is real too).

    Returns:
        `dict` with `mean` and `std` (`float`) of the scores, `scores` (`list[float]`, one per repeat), `num_windows`
        (`int`, windows used per class), `num_test_windows` (`int`, test windows per class), `hidden_size`,
        `num_steps` and `missing_mask_features` (`bool`, whether the observation mask was appended).
    """
    real = as_windows(real, "real")
    synthetic = as_windows(synthetic, "synthetic")
    check_same_features(real, synthetic, "real", "synthetic")
    check_same_length(real, synthetic, "real", "synthetic")
    check_positive_int(num_repeats, "num_repeats")
    check_positive_int(num_steps, "num_steps")
    check_fraction(test_fraction, "test_fraction")
    if max_windows is not None:
        check_positive_int(max_windows, "max_windows")
    if hidden_size is None:
        hidden_size = default_hidden_size(real.shape[-1])
    check_positive_int(hidden_size, "hidden_size")

    real_groups = _check_groups(real_groups, len(real), "real_groups")
    synthetic_groups = _check_groups(synthetic_groups, len(synthetic), "synthetic_groups")

    num_windows = min(len(real), len(synthetic), max_windows or len(real))
    num_test = int(round(num_windows * test_fraction))
    if num_test < 1 or num_windows - num_test < 1:
        raise ValueError(
            f"`real`/`synthetic` give {num_windows!r} windows per class with test_fraction={test_fraction!r}, "
            "expected at least one train and one test window per class"
        )
    include_mask = bool(np.isnan(real).any() or np.isnan(synthetic).any())

    repeat_seeds = derive_seeds(seed, num_repeats)
    splits = []
    for repeat_seed in repeat_seeds:
        rng = np.random.default_rng(repeat_seed)
        classes = [(real, real_groups), (synthetic, synthetic_groups)]
        picks = [subsample_indices(len(windows), num_windows, rng) for windows, _ in classes]
        parts = []
        for (windows, groups), picked in zip(classes, picks):
            train_rows, test_rows = _split_rows(len(picked), None if groups is None else groups[picked], num_test, rng)
            windows = with_observation_mask(windows[picked], include_mask).astype(np.float32)
            parts.append((windows[train_rows], windows[test_rows]))
        splits.append(parts)
    # Held-out groups leave a class fewer training windows; every class and repeat gets the same count.
    num_train = min(len(train) for parts in splits for train, _ in parts)
    if num_train < 1:
        raise ValueError(
            "the held-out groups leave no training windows; give `real_groups`/`synthetic_groups` more, smaller groups"
        )
    train_inputs = [
        np.concatenate([real_train[:num_train], synthetic_train[:num_train]])
        for (real_train, _), (synthetic_train, _) in splits
    ]
    test_real = [real_test for (_, real_test), _ in splits]
    test_synthetic = [synthetic_test for _, (_, synthetic_test) in splits]
    train_labels = np.repeat([0.0, 1.0], num_train)
    scores = _train_and_score(
        train_inputs, train_labels, test_real, test_synthetic, hidden_size, num_steps, repeat_seeds
    )
    return {
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "scores": [float(score) for score in scores],
        "num_windows": int(num_windows),
        "num_test_windows": int(num_test),
        "num_train_windows": int(num_train),
        "held_out_groups": real_groups is not None or synthetic_groups is not None,
        "hidden_size": int(hidden_size),
        "num_steps": int(num_steps),
        "missing_mask_features": include_mask,
    }


def temporal_discriminative_score(real: Any, synthetic: Any, lag: int = 1, **kwargs: Any) -> dict:
    r"""
    Discriminative score on lagged differences `x[:, lag:] − x[:, :-lag]` instead of the raw windows.

    Differencing removes the levels, so the classifier has to separate real from synthetic by their step-to-step
    dynamics. Missing cells propagate (a difference with a NaN end is NaN). Same protocol and arguments as
    [`discriminative_score`].

    Args:
        real (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in feature space.
        lag (`int`, *optional*, defaults to 1):
            Difference lag, `1 <= lag < sequence_length`.
        **kwargs:
            Forwarded to [`discriminative_score`].

    Returns:
        `dict`: the result of [`discriminative_score`] on the differenced windows, plus `lag`.
    """
    real = as_windows(real, "real")
    synthetic = as_windows(synthetic, "synthetic")
    check_same_length(real, synthetic, "real", "synthetic")
    check_positive_int(lag, "lag")
    if lag >= real.shape[1]:
        raise ValueError(f"`lag` got {lag!r}, expected less than the sequence length {real.shape[1]!r}")
    result = discriminative_score(real[:, lag:] - real[:, :-lag], synthetic[:, lag:] - synthetic[:, :-lag], **kwargs)
    result["lag"] = int(lag)
    return result


def _check_groups(groups: Any, num_windows: int, name: str) -> np.ndarray | None:
    """`groups` as a 1-D array of one label per window with at least two distinct labels, or `None`."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (num_windows,):
        raise ValueError(f"`{name}` has shape {groups.shape!r}, expected one label per window: ({num_windows},)")
    if len(np.unique(groups)) < 2:
        raise ValueError(f"`{name}` has a single group, expected at least two so whole groups can be held out")
    return groups


def _split_rows(
    num_rows: int, groups: np.ndarray | None, num_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """
    Shuffled `(train_rows, test_rows)` of `num_rows` rows with `num_test` test rows: a random split, or with `groups`
    one whose test rows come from randomly chosen whole groups (as many as `num_test` rows need) and whose training
    rows come from the other groups only.
    """
    order = rng.permutation(num_rows)
    if groups is None:
        return order[num_test:], order[:num_test]
    labels, sizes = np.unique(groups, return_counts=True)
    shuffled = rng.permutation(len(labels))
    held_out = labels[shuffled[: int(np.searchsorted(np.cumsum(sizes[shuffled]), num_test)) + 1]]
    in_test = np.isin(groups[order], held_out)
    return order[~in_test], order[in_test][:num_test]


def _train_and_score(
    train_inputs: list[np.ndarray],
    train_labels: np.ndarray,
    test_real: list[np.ndarray],
    test_synthetic: list[np.ndarray],
    hidden_size: int,
    num_steps: int,
    seeds: list[int],
) -> list[float]:
    """
    Trains one GRU classifier per repeat (side by side) and returns |balanced accuracy − 0.5| of each on its test set.

    Args:
        train_inputs (`list[np.ndarray]`): per repeat, `(num_train, sequence_length, input_size)` training windows.
        train_labels (`np.ndarray` of shape `(num_train,)`): 0 = real, 1 = synthetic (same order for every repeat).
        test_real (`list[np.ndarray]`): per repeat, `(num_test, sequence_length, input_size)` real test windows.
        test_synthetic (`list[np.ndarray]`): per repeat, synthetic test windows of the same shape.
        hidden_size (`int`): GRU hidden size.
        num_steps (`int`): optimisation steps.
        seeds (`list[int]`): one seed per repeat (initialisation and batch order).

    Returns:
        `list[float]`: one score per repeat.
    """
    num_train = len(train_labels)
    batch_rngs = [np.random.default_rng([seed, 1]) for seed in seeds]
    model = EnsembleGRU(len(seeds), train_inputs[0].shape[-1], hidden_size, 1, seeds, learning_rate=LEARNING_RATE)
    batch_size = min(BATCH_SIZE, num_train)
    for _ in range(num_steps):
        picks = [rng.integers(num_train, size=batch_size) for rng in batch_rngs]
        hidden, cache = model.forward(
            time_major([inputs[pick] for inputs, pick in zip(train_inputs, picks)]), keep_cache=True
        )
        labels = np.stack([train_labels[pick] for pick in picks])[..., None].astype(np.float32)
        # Gradient of each member's mean binary cross-entropy with respect to its logits.
        probabilities = 0.5 * np.tanh(0.5 * model.head(hidden[-1])) + 0.5
        model.zero_grad()
        grad_last = model.head_backward(hidden[-1], (probabilities - labels) / batch_size)
        model.backward(cache, [None] * (len(hidden) - 1) + [grad_last])
        model.step()
    real_correct = _count_positive(model, test_real, positive=False)
    synthetic_correct = _count_positive(model, test_synthetic, positive=True)
    balanced_accuracy = 0.5 * (real_correct + synthetic_correct) / len(test_real[0])
    return [abs(float(value) - 0.5) for value in balanced_accuracy]


def _count_positive(model: EnsembleGRU, windows: list[np.ndarray], positive: bool) -> np.ndarray:
    """Per member, how many of its windows get a logit > 0 (`positive`) or <= 0 (not `positive`)."""
    counts = np.zeros(len(windows))
    for start in range(0, len(windows[0]), EVAL_BATCH_SIZE):
        hidden, _ = model.forward(time_major([member[start : start + EVAL_BATCH_SIZE] for member in windows]))
        logits = model.head(hidden[-1])[..., 0]
        counts += ((logits > 0) if positive else (logits <= 0)).sum(axis=1)
    return counts
