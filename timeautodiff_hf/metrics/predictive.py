"""Post-hoc predictive score (TSTR): next-step prediction trained on synthetic windows, tested on real ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._gru import EnsembleGRU, time_major
from ._utils import (
    as_windows,
    check_positive_int,
    check_same_features,
    check_same_length,
    default_hidden_size,
    derive_seeds,
    resolve_layout,
    subsample_indices,
    with_observation_mask,
)

BATCH_SIZE = 128
LEARNING_RATE = 5e-3
EVAL_CHUNK = 1024


def predictive_score(
    real_train: Any,
    synthetic: Any,
    real_test: Any,
    *,
    layout: list[dict] | None = None,
    num_steps: int = 400,
    hidden_size: int | None = None,
    seed: int = 0,
    max_windows: int | None = 3000,
) -> dict:
    r"""
    Predictive score (train on synthetic, test on real) with the train-on-real reference.

    Protocol (TimeGAN-style, all features predicted):

    1. `synthetic` and `real_train` are subsampled without replacement to the same count
       `min(len(synthetic), len(real_train), max_windows)`; `real_test` is subsampled to at most `max_windows`.
    2. Two 2-layer GRUs with a linear head are trained for exactly `num_steps` Adam steps (batch 128, lr 5e-3): one on
       the synthetic windows (TSTR) and one on the real training windows (TRTR). Both start from the same
       initialisation and see the same batch indices (paired comparison). At every step `t` they read steps `<= t`
       (NaN replaced by 0, plus the observation mask when any input has missing cells) and predict every feature of
       step `t + 1`. Binary and one-hot features (from `layout`) go through a sigmoid.
    3. The loss and the scores are the mean absolute error over observed target cells only.
    4. Both models are scored on `real_test`. A persistence baseline (predict the previous step) is reported on the
       test cells where both steps are observed.

    Lower is better; `tstr_mae` close to `trtr_mae` means the synthetic data carries the real step-to-step dynamics.

    Args:
        real_train (`np.ndarray` of shape `(num_train, sequence_length, num_features)`):
            Real windows used for the train-on-real reference.
        synthetic (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows.
        real_test (`np.ndarray` of shape `(num_test, sequence_length, num_features)`):
            Real windows never used for training, ideally disjoint in time from `real_train`.
        layout (`list[dict]`, *optional*):
            Feature layout; binary/categorical features get a sigmoid output. `None` treats all as continuous.
        num_steps (`int`, *optional*, defaults to 400):
            Optimisation steps per model.
        hidden_size (`int`, *optional*):
            GRU hidden size. Defaults to `num_features // 2`, at least 4 and at most 32.
        seed (`int`, *optional*, defaults to 0):
            Seed for subsampling, initialisation and batch order.
        max_windows (`int`, *optional*, defaults to 3000):
            Cap on the windows per set; `None` uses all.

    Returns:
        `dict` with `tstr_mae`, `trtr_mae`, `tstr_trtr_ratio`, `persistence_mae` (`float`), `num_train_windows`,
        `num_test_windows`, `hidden_size` and `num_steps` (`int`).
    """
    real_train = as_windows(real_train, "real_train")
    synthetic = as_windows(synthetic, "synthetic")
    real_test = as_windows(real_test, "real_test")
    for array, name in ((synthetic, "synthetic"), (real_test, "real_test")):
        check_same_features(real_train, array, "real_train", name)
        check_same_length(real_train, array, "real_train", name)
    if real_train.shape[1] < 2:
        raise ValueError(f"`real_train` has sequence length {real_train.shape[1]!r}, expected at least 2")
    check_positive_int(num_steps, "num_steps")
    if max_windows is not None:
        check_positive_int(max_windows, "max_windows")
    num_features = real_train.shape[-1]
    layout = resolve_layout(layout, num_features)
    if hidden_size is None:
        hidden_size = default_hidden_size(num_features)
    check_positive_int(hidden_size, "hidden_size")

    model_seed, data_seed = derive_seeds(seed, 2)
    rng = np.random.default_rng(data_seed)
    num_train = min(len(synthetic), len(real_train), max_windows or len(synthetic))
    synthetic = synthetic[subsample_indices(len(synthetic), num_train, rng)]
    real_train = real_train[subsample_indices(len(real_train), num_train, rng)]
    real_test = real_test[subsample_indices(len(real_test), min(len(real_test), max_windows or len(real_test)), rng)]
    include_mask = bool(np.isnan(synthetic).any() or np.isnan(real_train).any() or np.isnan(real_test).any())

    bounded = np.zeros(num_features, dtype=bool)
    for column in layout:
        if column["kind"] != "continuous":
            bounded[column["start"] : column["stop"]] = True
    train_sets = [_next_step_data(windows, include_mask) for windows in (synthetic, real_train)]
    test_set = _next_step_data(real_test, include_mask)
    if test_set[2].sum() == 0:
        raise ValueError("`real_test` has no observed cells after the first step, expected at least one to score")

    # Both members share one seed: identical initialisation and identical batch indices (a paired comparison).
    batch_rng = np.random.default_rng([model_seed, 1])
    model = EnsembleGRU(
        2, train_sets[0][0].shape[-1], hidden_size, num_features, [model_seed] * 2, learning_rate=LEARNING_RATE
    )
    batch_size = min(BATCH_SIZE, num_train)
    for _ in range(num_steps):
        pick = batch_rng.integers(num_train, size=batch_size)
        hidden, cache = model.forward(time_major([inputs[pick] for inputs, _, _ in train_sets]), keep_cache=True)
        step_targets = time_major([targets[pick] for _, targets, _ in train_sets])
        step_masks = time_major([mask[pick] for _, _, mask in train_sets])
        # Per-member mean absolute error over observed targets: d loss / d prediction = sign * mask / count.
        scale = 1.0 / np.maximum(1.0, sum(mask.sum(axis=(1, 2)) for mask in step_masks))[:, None, None]
        model.zero_grad()
        grad_hidden = []
        for state, target, mask in zip(hidden, step_targets, step_masks):
            outputs = model.head(state)
            predictions, slope = _squash(outputs, bounded)
            grad_outputs = np.sign(predictions - target) * mask * scale * slope
            grad_hidden.append(model.head_backward(state, grad_outputs.astype(np.float32)))
        model.backward(cache, grad_hidden)
        model.step()

    error_sums = np.zeros(2)
    test_inputs, test_targets, test_mask = test_set
    for start in range(0, len(test_inputs), EVAL_CHUNK):
        chunk = slice(start, start + EVAL_CHUNK)
        hidden, _ = model.forward(time_major([test_inputs[chunk]] * 2))
        for step, state in enumerate(hidden):
            predictions, _ = _squash(model.head(state), bounded)
            errors = np.abs(predictions - test_targets[None, chunk, step]) * test_mask[None, chunk, step]
            error_sums += errors.sum(axis=(1, 2))
    tstr_mae, trtr_mae = (error_sums / test_mask.sum()).tolist()

    both_observed = ~np.isnan(real_test[:, 1:]) & ~np.isnan(real_test[:, :-1])
    persistence = np.abs(real_test[:, 1:] - real_test[:, :-1])[both_observed]
    return {
        "tstr_mae": float(tstr_mae),
        "trtr_mae": float(trtr_mae),
        "tstr_trtr_ratio": float(tstr_mae / trtr_mae) if trtr_mae > 0 else float("nan"),
        "persistence_mae": float(persistence.mean()) if persistence.size else float("nan"),
        "num_train_windows": int(num_train),
        "num_test_windows": int(len(real_test)),
        "hidden_size": int(hidden_size),
        "num_steps": int(num_steps),
    }


def _next_step_data(windows: np.ndarray, include_mask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (steps `:-1`, NaN → 0, optional mask features), targets (steps `1:`, NaN → 0) and target mask."""
    inputs = with_observation_mask(windows[:, :-1], include_mask).astype(np.float32)
    targets = np.nan_to_num(windows[:, 1:]).astype(np.float32)
    mask = (~np.isnan(windows[:, 1:])).astype(np.float32)
    return inputs, targets, mask


def _squash(outputs: np.ndarray, bounded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid on bounded (binary / one-hot) features, identity elsewhere; returns predictions and their slopes."""
    squashed = 0.5 * np.tanh(0.5 * outputs) + 0.5
    predictions = np.where(bounded, squashed, outputs)
    slope = np.where(bounded, squashed * (1.0 - squashed), 1.0)
    return predictions, slope
