"""Tests for the evaluation metrics in `timeautodiff_hf.metrics`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from timeautodiff_hf.metrics import (
    autocorrelation_error,
    correlation_distance,
    crps_from_samples,
    discriminative_score,
    distance_to_closest_record,
    evaluate_generation,
    imputation_errors,
    marginal_distances,
    masked_mae,
    masked_mse,
    missing_rate_error,
    plot_autocorrelation,
    plot_embedding,
    plot_forecast,
    plot_marginals,
    plot_sequences,
    predictive_score,
    save_report,
    temporal_discriminative_score,
)
from timeautodiff_hf.metrics._gru import EnsembleGRU

SEQUENCE_LENGTH = 12
LAYOUT = [
    {"name": "a", "kind": "continuous", "start": 0, "stop": 1},
    {"name": "b", "kind": "continuous", "start": 1, "stop": 2},
    {"name": "c", "kind": "continuous", "start": 2, "stop": 3},
    {"name": "flag", "kind": "binary", "start": 3, "stop": 4},
    {"name": "level", "kind": "categorical", "start": 4, "stop": 7},
]
FAST = {"num_repeats": 1, "num_steps": 100}
PNG_MAGIC = b"\x89PNG"


def make_windows(num_windows: int, seed: int, missing_rate: float = 0.0) -> np.ndarray:
    """Noisy sine/cosine windows, a correlated third column, a binary flag and a one-hot level of column `a`."""
    rng = np.random.default_rng(seed)
    steps = np.arange(SEQUENCE_LENGTH)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (num_windows, 1))
    amplitude = rng.uniform(0.5, 1.5, (num_windows, 1))
    first = amplitude * np.sin(0.6 * steps + phase) + 0.1 * rng.normal(size=(num_windows, SEQUENCE_LENGTH))
    second = amplitude * np.cos(0.6 * steps + phase) + 0.1 * rng.normal(size=(num_windows, SEQUENCE_LENGTH))
    third = 0.8 * first + 0.3 * rng.normal(size=(num_windows, SEQUENCE_LENGTH))
    flag = (second > 0).astype(np.float64)
    level = np.eye(3)[np.digitize(first, [-0.4, 0.4])]
    windows = np.concatenate([np.stack([first, second, third, flag], axis=-1), level], axis=-1)
    if missing_rate > 0:
        windows[..., 0][rng.random((num_windows, SEQUENCE_LENGTH)) < missing_rate] = np.nan
    return windows


def shuffle_time(windows: np.ndarray, seed: int) -> np.ndarray:
    """Permutes the time axis of every window independently (keeps marginals, destroys dynamics)."""
    rng = np.random.default_rng(seed)
    return np.stack([window[rng.permutation(len(window))] for window in windows])


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return make_windows(300, seed=0)


@pytest.fixture(scope="module")
def fresh() -> np.ndarray:
    return make_windows(300, seed=1)


@pytest.fixture(scope="module")
def noise(real: np.ndarray) -> np.ndarray:
    return np.random.default_rng(2).normal(size=real.shape)


# ---------------------------------------------------------------------------------------------- discriminative


def test_when_data_identical_then_discriminative_score_near_zero(real, fresh):
    result = discriminative_score(real, fresh, **FAST)
    assert result["mean"] < 0.15
    assert result["num_windows"] == 300
    assert len(result["scores"]) == 1


def test_when_synthetic_is_noise_then_discriminative_score_large(real, noise):
    assert discriminative_score(real, noise, **FAST)["mean"] > 0.3


def test_when_seed_fixed_then_discriminative_result_identical(real, fresh):
    first = discriminative_score(real, fresh, num_repeats=2, num_steps=30, seed=7)
    second = discriminative_score(real, fresh, num_repeats=2, num_steps=30, seed=7)
    assert first == second


def test_when_global_rngs_seeded_differently_then_discriminative_result_unchanged(real, fresh):
    np.random.seed(1)
    torch.manual_seed(1)
    first = discriminative_score(real, fresh, num_repeats=1, num_steps=30)
    np.random.seed(2)
    torch.manual_seed(2)
    assert discriminative_score(real, fresh, num_repeats=1, num_steps=30) == first


def test_when_windows_exceed_cap_then_both_classes_subsampled_to_cap(real, fresh):
    result = discriminative_score(real, fresh[:250], num_repeats=1, num_steps=5, max_windows=200)
    assert result["num_windows"] == 200
    assert result["num_test_windows"] == 40


def clustered_windows(seed: int, num_blocks: int = 40, per_block: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Near-copies within blocks (like overlapping stride-1 windows), every block at its own random level."""
    rng = np.random.default_rng(seed)
    levels = rng.normal(size=(num_blocks, 1, 1, 4))
    windows = levels + 0.05 * rng.normal(size=(num_blocks, per_block, 8, 4))
    return windows.reshape(-1, 8, 4), np.repeat(np.arange(num_blocks), per_block)


@pytest.mark.parametrize("seed", [1, 2])
def test_when_real_windows_are_near_copies_then_held_out_groups_remove_the_memorisation_score(seed):
    # two sets from one distribution: a random split lets the classifier recognise the blocks it trained on
    first, first_groups = clustered_windows(seed)
    second, second_groups = clustered_windows(seed + 10)
    random_split = discriminative_score(first, second, num_repeats=3, num_steps=200)
    grouped = discriminative_score(
        first, second, num_repeats=3, num_steps=200, real_groups=first_groups, synthetic_groups=second_groups
    )
    assert random_split["mean"] > 0.2
    assert grouped["mean"] < 0.1
    assert grouped["held_out_groups"] and not random_split["held_out_groups"]
    assert grouped["num_test_windows"] == 80 and grouped["num_train_windows"] <= 320


def test_when_groups_given_for_one_class_then_its_test_windows_are_whole_unseen_groups(real, fresh):
    result = discriminative_score(real, fresh, num_repeats=1, num_steps=5, real_groups=np.arange(300) // 7)
    assert result["num_test_windows"] == 60
    assert 230 <= result["num_train_windows"] < 240  # the last held-out group is cut, its rest not trained on


def test_when_groups_are_malformed_then_error_names_the_argument(real, fresh):
    with pytest.raises(ValueError, match=r"`real_groups` has shape \(299,\), expected one label per window: \(300,\)"):
        discriminative_score(real, fresh, real_groups=np.zeros(299))
    with pytest.raises(ValueError, match="`synthetic_groups` has a single group"):
        discriminative_score(real, fresh, synthetic_groups=np.zeros(len(fresh)))


def test_when_missingness_differs_then_discriminative_score_large(fresh):
    with_gaps = make_windows(300, seed=3, missing_rate=0.3)
    result = discriminative_score(with_gaps, fresh, **FAST)
    assert result["missing_mask_features"] is True
    assert result["mean"] > 0.3


def test_when_time_shuffled_then_temporal_discriminative_score_worse(real, fresh):
    shuffled = shuffle_time(fresh, seed=4)
    same = temporal_discriminative_score(real, fresh, **FAST)
    worse = temporal_discriminative_score(real, shuffled, **FAST)
    assert same["lag"] == 1
    assert worse["mean"] > same["mean"] + 0.2


def test_when_feature_dims_differ_then_value_error_names_argument(real):
    with pytest.raises(ValueError, match="`synthetic` has 6 features"):
        discriminative_score(real, real[..., :6])


def test_when_windows_not_3d_then_value_error(real):
    with pytest.raises(ValueError, match="`real` must have shape"):
        discriminative_score(real[0], real)


def test_when_lag_too_large_then_value_error(real, fresh):
    with pytest.raises(ValueError, match="`lag` got 12"):
        temporal_discriminative_score(real, fresh, lag=SEQUENCE_LENGTH)


def test_when_gru_backward_then_matches_torch_autograd():
    num_members, batch, steps, inputs, hidden, outputs = 2, 4, 5, 3, 3, 2
    model = EnsembleGRU(num_members, inputs, hidden, outputs, seeds=[1, 2])
    model.params = {name: value.astype(np.float64) for name, value in model.params.items()}
    model.grads = {name: np.zeros_like(value) for name, value in model.params.items()}
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(num_members, batch, steps, inputs))
    weights = rng.normal(size=(steps, num_members, batch, outputs))
    states, cache = model.forward(list(windows.transpose(2, 0, 1, 3).copy()), keep_cache=True)
    model.zero_grad()
    model.backward(cache, [model.head_backward(state, weights[step]) for step, state in enumerate(states)])
    for member in range(num_members):
        reference = torch.nn.GRU(inputs, hidden, num_layers=2, batch_first=True).double()
        with torch.no_grad():
            for layer in range(2):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    value = model.params[f"{name}_{layer}"][member]
                    getattr(reference, f"{name}_l{layer}").copy_(
                        torch.from_numpy(value.T if "weight" in name else value[0])
                    )
        head_weight = torch.from_numpy(model.params["head_weight"][member]).requires_grad_()
        head_bias = torch.from_numpy(model.params["head_bias"][member][0]).requires_grad_()
        sequence, _ = reference(torch.from_numpy(windows[member]))
        loss = ((sequence @ head_weight + head_bias) * torch.from_numpy(weights[:, member]).transpose(0, 1)).sum()
        loss.backward()
        np.testing.assert_allclose(
            np.stack(states)[:, member].transpose(1, 0, 2), sequence.detach().numpy(), atol=1e-10
        )
        for layer in range(2):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                expected = getattr(reference, f"{name}_l{layer}").grad.numpy()
                actual = model.grads[f"{name}_{layer}"][member]
                np.testing.assert_allclose(actual.T if "weight" in name else actual[0], expected, atol=1e-10)
        np.testing.assert_allclose(model.grads["head_weight"][member], head_weight.grad.numpy(), atol=1e-10)


# ---------------------------------------------------------------------------------------------- predictive


def test_when_synthetic_matches_real_then_tstr_close_to_trtr_and_better_than_noise(real, fresh, noise):
    test = make_windows(200, seed=5)
    good = predictive_score(real, fresh, test, layout=LAYOUT, num_steps=100)
    bad = predictive_score(real, noise, test, layout=LAYOUT, num_steps=100)
    assert good["tstr_mae"] < 1.3 * good["trtr_mae"]
    assert bad["tstr_mae"] > good["tstr_mae"] + 0.1
    assert good["trtr_mae"] == pytest.approx(bad["trtr_mae"])
    assert good["num_train_windows"] == 300 and good["num_test_windows"] == 200


def test_when_targets_missing_then_predictive_score_is_finite(real, fresh):
    with_gaps = make_windows(200, seed=6, missing_rate=0.2)
    result = predictive_score(with_gaps, fresh, with_gaps, num_steps=20)
    assert np.isfinite(result["tstr_mae"]) and np.isfinite(result["trtr_mae"])


# ---------------------------------------------------------------------------------------------- statistics


def test_when_time_shuffled_then_autocorrelation_error_worse(real, fresh):
    same = autocorrelation_error(real, fresh, max_lag=3, layout=LAYOUT)
    shuffled = autocorrelation_error(real, shuffle_time(fresh, seed=7), max_lag=3, layout=LAYOUT)
    assert set(same["per_column"]) == {"a", "b", "c", "flag"}
    assert len(same["real_acf"]["a"]) == 3
    assert shuffled["mean"] > same["mean"] + 0.2


def test_when_noise_then_marginal_distances_worse_than_fresh_draw(real, fresh, noise):
    same = marginal_distances(real, fresh, LAYOUT)
    worse = marginal_distances(real, noise, LAYOUT)
    assert same["metric_per_column"] == {
        "a": "wasserstein_1",
        "b": "wasserstein_1",
        "c": "wasserstein_1",
        "flag": "total_variation",
        "level": "total_variation",
    }
    assert worse["mean"] > same["mean"] + 0.1
    assert worse["continuous_mean"] > same["continuous_mean"]
    assert 0.0 <= same["per_column"]["level"] <= 1.0


def test_when_inputs_identical_then_correlation_distance_zero(real):
    result = correlation_distance(real, real.copy(), LAYOUT)
    assert result["distance"] == 0.0
    assert result["theil_u_distance"] == 0.0
    assert result["columns"] == ["a", "b", "c", "flag", "level"]
    assert result["real"].shape == (5, 5)


def test_when_columns_independent_then_correlation_distance_positive(real):
    rng = np.random.default_rng(8)
    independent = real.copy()
    for column in LAYOUT:
        columns = slice(column["start"], column["stop"])
        independent[..., columns] = independent[rng.permutation(len(real))][..., columns]
    result = correlation_distance(real, independent, LAYOUT)
    assert result["distance"] > 0.2
    # a ~ c (Pearson), a ~ level (correlation ratio), flag ~ level (Cramér's V) are strong in the real data only.
    assert result["real"][0, 2] > 0.8 and abs(result["synthetic"][0, 2]) < 0.1
    assert result["real"][0, 4] > 0.7 and result["synthetic"][0, 4] < 0.1
    assert np.isnan(result["real_theil_u"][0, 1]) and 0.0 <= result["real_theil_u"][3, 4] <= 1.0


def test_when_layout_is_none_then_every_feature_is_a_continuous_column(real, fresh):
    result = correlation_distance(real, fresh)
    assert result["real"].shape == (7, 7)
    assert np.isnan(result["theil_u_distance"])
    assert len(marginal_distances(real, fresh)["per_column"]) == 7


def test_when_real_has_missing_cells_then_missing_rate_error_reports_column(fresh):
    with_gaps = make_windows(300, seed=9, missing_rate=0.2)
    result = missing_rate_error(with_gaps, fresh, LAYOUT)
    assert result["per_column"]["a"] == pytest.approx(0.2, abs=0.03)
    assert result["per_column"]["b"] == 0.0
    assert result["synthetic_rates"]["a"] == 0.0


def test_when_layout_kind_unknown_then_value_error(real):
    bad = [dict(LAYOUT[0], kind="ordinal")] + LAYOUT[1:]
    with pytest.raises(ValueError, match="'ordinal'"):
        marginal_distances(real, real, bad)


# ---------------------------------------------------------------------------------------------- privacy


def test_when_synthetic_copies_train_then_dcr_flags_memorisation(real, fresh):
    result = distance_to_closest_record(real[:100].copy(), real, fresh)
    assert result["exact_copies"] == 100
    assert result["share_closer_to_train"] == 1.0
    assert result["dcr_train_median"] == 0.0
    assert result["num_reference_windows"] == 300


def test_when_synthetic_fresh_draws_then_dcr_share_near_half(real, fresh):
    result = distance_to_closest_record(make_windows(300, seed=10), real, fresh)
    assert result["exact_copies"] == 0
    assert 0.3 <= result["share_closer_to_train"] <= 0.7
    assert result["dcr_train_p5"] <= result["dcr_train_median"]


def test_when_holdout_dims_differ_then_value_error_names_holdout(real):
    with pytest.raises(ValueError, match="`holdout`"):
        distance_to_closest_record(real, real, real[..., :5])


# ---------------------------------------------------------------------------------------------- errors


def test_when_masked_errors_on_tiny_case_then_match_hand_computation():
    prediction = np.array([[1.0, 2.0], [3.0, 10.0]])
    target = np.array([[0.0, 2.0], [5.0, np.nan]])
    mask = np.array([[1, 1], [1, 0]])
    assert masked_mae(prediction, target, mask) == pytest.approx((1 + 0 + 2) / 3)
    assert masked_mse(prediction, target, mask) == pytest.approx((1 + 0 + 4) / 3)


def test_when_mask_empty_then_masked_errors_raise():
    zeros = np.zeros((2, 2))
    for function in (masked_mae, masked_mse):
        with pytest.raises(ValueError, match="selects no cell"):
            function(zeros, zeros, zeros)
    with pytest.raises(ValueError, match="selects no cell"):
        crps_from_samples(zeros[None], zeros, zeros)


def test_when_single_sample_then_crps_equals_absolute_error():
    target = np.array([1.0, -2.0, 3.0])
    sample = np.array([1.5, 0.0, 3.0])
    assert crps_from_samples(sample[None], target, np.ones(3)) == pytest.approx(np.mean(np.abs(sample - target)))


def test_when_samples_equal_target_then_crps_zero():
    target = np.array([[0.3, 1.2]])
    assert crps_from_samples(np.repeat(target[None], 5, axis=0), target, np.ones((1, 2))) == pytest.approx(0.0)


def test_when_crps_from_sorted_form_then_matches_pairwise_definition():
    assert crps_from_samples(np.array([[0.0], [1.0]]), np.array([0.0]), np.array([1])) == pytest.approx(0.25)
    rng = np.random.default_rng(11)
    samples, target = rng.normal(size=(7, 4)), rng.normal(size=4)
    pairwise = np.abs(samples[:, None] - samples[None, :]).mean(axis=(0, 1))
    expected = np.mean(np.abs(samples - target).mean(axis=0) - 0.5 * pairwise)
    assert crps_from_samples(samples, target, np.ones(4)) == pytest.approx(expected)


def test_when_samples_shape_wrong_then_crps_raises():
    with pytest.raises(ValueError, match="`samples` has shape"):
        crps_from_samples(np.zeros((3, 2)), np.zeros(3), np.ones(3))


def test_when_imputing_table_then_errors_per_column_in_original_units():
    truth = pd.DataFrame({"temp": [10.0, 12.0, 14.0, 16.0], "kind": ["x", "y", "x", "y"]})
    prediction = pd.DataFrame({"temp": [11.0, 12.0, 10.0, 16.0], "kind": ["x", "x", "x", "y"]})
    mask = pd.DataFrame({"temp": [True, False, True, False], "kind": [True, True, False, False]})
    result = imputation_errors(prediction, truth, mask)
    assert result["per_column"]["temp"]["mae"] == pytest.approx(2.5)
    assert result["per_column"]["temp"]["mse"] == pytest.approx(8.5)
    assert result["per_column"]["temp"]["num_cells"] == 2
    assert result["per_column"]["kind"] == {"kind": "categorical", "num_cells": 2, "error_rate": 0.5}
    assert result["mean_error_rate"] == 0.5


def test_when_imputation_frames_misaligned_then_value_error():
    frame = pd.DataFrame({"temp": [1.0, 2.0]})
    with pytest.raises(ValueError, match="`prediction_df` has 1 rows"):
        imputation_errors(frame.iloc[:1], frame, frame > 0)


# ---------------------------------------------------------------------------------------------- plots


def _assert_png(path: str) -> None:
    with open(path, "rb") as handle:
        assert handle.read(4) == PNG_MAGIC


def test_when_plotting_then_each_function_writes_a_png(tmp_path, real, fresh):
    rng = np.random.default_rng(12)
    real_df = pd.DataFrame({"temp": rng.normal(size=200), "kind": rng.choice(["x", "y", "z"], 200)})
    synthetic_df = pd.DataFrame({"temp": rng.normal(1, 1, size=200), "kind": rng.choice(["x", "y"], 200)})
    history = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=20, freq="h"), "temp": rng.normal(size=20)})
    future_time = pd.date_range("2024-01-01 20:00", periods=6, freq="h")
    truth = pd.DataFrame({"time": future_time, "temp": rng.normal(size=6)})
    samples = pd.concat(
        [pd.DataFrame({"sample": k, "time": future_time, "temp": rng.normal(size=6)}) for k in range(10)]
    )
    paths = [
        plot_marginals(real_df, synthetic_df, ["temp", "kind"], tmp_path / "marginals.png"),
        plot_autocorrelation(real, fresh, LAYOUT, tmp_path / "acf.png"),
        plot_sequences(real, fresh, LAYOUT, tmp_path / "sequences.png", num=3),
        plot_embedding(real, fresh, tmp_path / "embedding.png"),
        plot_forecast(history, truth, samples, "temp", tmp_path / "forecast.png", time_column="time"),
        plot_forecast(history, None, [truth, truth], "temp", tmp_path / "forecast_steps.png"),
    ]
    for path in paths:
        assert path.endswith(".png")
        _assert_png(path)


def test_when_embedding_method_unknown_then_value_error(tmp_path, real):
    with pytest.raises(ValueError, match="`method` got 'umap'"):
        plot_embedding(real, real, tmp_path / "x.png", method="umap")


# ---------------------------------------------------------------------------------------------- report


def test_when_evaluating_quickly_then_report_is_json_serialisable_with_expected_keys(tmp_path, real, fresh):
    report = evaluate_generation(real, fresh, layout=LAYOUT, quick=True, show_progress=False)
    expected = {
        "discriminative",
        "discriminative_floor",
        "temporal_discriminative",
        "predictive",
        "privacy",
        "marginals",
        "correlation",
        "autocorrelation",
        "missing_rate",
        "discriminative_held_out_blocks",
        "summary",
        "protocol",
        "runtime_seconds",
    }
    assert set(report) == expected
    assert report["privacy"] is None
    assert (
        report["discriminative_held_out_blocks"] is None
        and "no `real_groups`" in report["protocol"]["held_out_blocks"]
    )
    assert "skipped" in report["protocol"]["privacy"]
    assert report["discriminative_floor"]["num_windows"] == 150
    assert report["summary"]["discriminative_score"] < 0.2
    json.dumps(report, allow_nan=False)
    path = save_report(report, tmp_path / "reports" / "report.json")
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle)["summary"] == report["summary"]


def test_when_real_groups_given_then_report_scores_held_out_blocks_and_leaves_the_others_unchanged(real, fresh):
    plain = evaluate_generation(real, fresh, layout=LAYOUT, quick=True, show_progress=False)
    blocks = np.arange(len(real)) // 15
    report = evaluate_generation(real, fresh, layout=LAYOUT, real_groups=blocks, quick=True, show_progress=False)
    assert report["discriminative"] == plain["discriminative"]
    assert report["discriminative_held_out_blocks"]["held_out_groups"] is True
    assert report["discriminative_held_out_blocks"]["num_test_windows"] == 60
    assert 0.0 <= report["summary"]["discriminative_score_held_out_blocks"] < 0.2
    coarse = evaluate_generation(
        real, fresh, layout=LAYOUT, real_groups=np.zeros(len(real)), quick=True, show_progress=False
    )
    assert coarse["discriminative_held_out_blocks"] is None and "single group" in coarse["protocol"]["held_out_blocks"]
    with pytest.raises(ValueError, match="`real_groups` has shape"):
        evaluate_generation(real, fresh, real_groups=blocks[:-1], quick=True, show_progress=False)


def test_time_blocks_keep_overlapping_windows_together_and_entities_at_one_time_in_one_block():
    from timeautodiff_hf.evaluation import time_blocks

    end_times = np.tile(np.arange(1000), 2)  # two entities on one hourly grid
    blocks = time_blocks(end_times, sequence_length=10)
    assert np.array_equal(blocks[:1000], blocks[1000:])
    assert len(np.unique(blocks)) == 20  # a short table gets ~20 blocks of >= one window, not 10-window blocks
    assert np.count_nonzero(np.diff(blocks[:1000])) == 19
    long = time_blocks(np.arange(100_000), sequence_length=24)
    assert np.bincount(long)[0] == 240


def test_when_train_and_holdout_given_then_report_includes_privacy(real, fresh):
    report = evaluate_generation(
        fresh[:100],
        real[:100].copy(),
        train_windows=real,
        holdout_windows=fresh,
        quick=True,
        show_progress=False,
    )
    assert report["privacy"]["exact_copies"] == 100
    assert report["summary"]["dcr_share_closer_to_train"] == 1.0
    assert report["protocol"]["predictive_data"] == "train_windows / holdout_windows"


def test_when_report_has_numpy_values_then_save_report_converts_them(tmp_path):
    path = save_report({"a": np.float32(1.5), "b": np.arange(3), "c": float("nan")}, tmp_path / "r.json")
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == {"a": 1.5, "b": [0, 1, 2], "c": None}


def test_category_bars_follow_the_vocabulary_and_pool_rare_categories_as_other():
    from timeautodiff_hf import TimeAutoDiffProcessor
    from timeautodiff_hf.plotting import category_shares

    times = pd.date_range("2024-01-01", periods=24 * 30, freq="h")
    table = pd.DataFrame({"time": times, "hr": times.hour, "x": np.arange(len(times), dtype=float)})
    processor = TimeAutoDiffProcessor(time_column="time").fit(table)
    synthetic = table["hr"].where(table["hr"] < 20, 0)  # hours 20-23 never generated
    labels, real, generated = category_shares(table["hr"], synthetic, processor, "hr")
    # Read back from a CSV with a missing cell the column is float (1.0): the same categories.
    as_read = synthetic.astype(float).where(np.arange(len(synthetic)) != 5)
    assert np.allclose(category_shares(table["hr"], as_read, processor, "hr")[2], generated, atol=0.01)
    assert labels == [str(hour) for hour in range(24)]  # 0..23, not by frequency or as text
    assert np.allclose(real, 1 / 24) and generated[20:].sum() == 0 and np.isclose(generated.sum(), 1.0)
    labels, real, generated = category_shares(table["hr"], synthetic, processor, "hr", max_bars=12)
    assert len(labels) == 12 and labels[-1] == "other" and labels[:-1] == sorted(labels[:-1], key=int)
    assert np.isclose(real.sum(), 1.0) and np.isclose(generated.sum(), 1.0)


def test_category_line_panels_label_indices_with_their_categories():
    from timeautodiff_hf.plotting import category_tick_formatter

    formatter = category_tick_formatter([1, 2, 3, 4])  # bike sharing's weathersit: index 0 is category 1
    assert [formatter(value, None) for value in (0.0, 1.0, 3.0)] == ["1", "2", "4"]
    assert formatter(0.5, None) == "" and formatter(4.0, None) == "" and formatter(-1.0, None) == ""
    assert category_tick_formatter(["rain", "sun"])(1.0, None) == "sun"
