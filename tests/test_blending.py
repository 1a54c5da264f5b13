"""Blending imputed cells with linear interpolation by weights fitted on the table itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_model import make_tiny_table, train_tiny_pipeline

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.blending import (
    best_model_weight,
    blend,
    cubic_interpolation,
    dominant_period,
    fit_cell_regression,
    gap_lengths,
    linear_interpolation,
    predict_cells,
    seasonal_interpolation,
    select_regressors,
    time_order,
    validation_cells,
)


def test_linear_interpolation_follows_time_order_and_never_crosses_entities():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "a", "b", "a", "b", "a"],
            "t": [3, 0, 1, 1, 2, 2, 0],
            "x": [30.0, 100.0, np.nan, np.nan, np.nan, 300.0, 0.0],
        }
    )
    order = time_order(table, "id", "t")
    assert list(table.iloc[order][["id", "t"]].itertuples(index=False, name=None)) == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 0),
        ("b", 1),
        ("b", 2),
    ]
    missing = table["x"].isna().to_numpy()
    filled = linear_interpolation(table["x"].to_numpy(), missing, order, table["id"].to_numpy())
    assert filled.tolist() == [30.0, 100.0, 10.0, 200.0, 20.0, 300.0, 0.0]
    # Edges hold the nearest observed value; an entity without observed values stays NaN.
    edge = np.array([np.nan, 5.0, np.nan])
    assert linear_interpolation(edge, np.isnan(edge), np.arange(3)).tolist() == [5.0, 5.0, 5.0]
    empty = linear_interpolation(np.array([np.nan, np.nan]), np.array([True, True]), np.arange(2))
    assert np.isnan(empty).all()


def test_linear_interpolation_matches_numpy_interp_per_entity_on_random_tables():
    """The all-entities-at-once computation gives what `np.interp` gives entity by entity."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        size = int(rng.integers(2, 80))
        groups = rng.integers(0, 4, size)
        order = np.lexsort((rng.random(size), groups))
        missing = rng.random(size) < rng.uniform(0.1, 0.9)
        values = np.where(missing, np.nan, rng.normal(size=size))
        expected = values.copy()
        for group in np.unique(groups):
            rows = order[groups[order] == group]
            gaps = missing[rows]
            if gaps.any() and not gaps.all():
                steps = np.arange(len(rows))
                expected[rows[gaps]] = np.interp(steps[gaps], steps[~gaps], values[rows[~gaps]])
        np.testing.assert_allclose(linear_interpolation(values, missing, order, groups), expected, atol=1e-12)


def test_validation_cells_copy_the_gap_pattern_onto_observed_cells_only():
    missing = np.zeros(400, dtype=bool)
    missing[50:60] = True
    missing[200:205] = True
    hidden = validation_cells(missing, np.arange(400), np.random.default_rng(0))
    assert not (hidden & missing).any()
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], hidden.astype(int), [0]]))))[::2]
    assert sorted(runs.tolist())[-2:] == [5, 10], "the shifted gaps keep their lengths"
    # Too few gaps to learn from: topped up with random observed cells.
    sparse = np.zeros(400, dtype=bool)
    sparse[7] = True
    assert validation_cells(sparse, np.arange(400), np.random.default_rng(0)).sum() >= 30


def test_best_model_weight_picks_the_better_source_and_blend_keeps_the_model_without_a_line():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    noise = rng.normal(size=200)
    assert best_model_weight(truth, truth, truth + noise) == 1.0
    assert best_model_weight(truth, truth + noise, truth) == 0.0
    middle = best_model_weight(truth, truth + noise, truth - noise)
    assert middle == pytest.approx(0.5, abs=0.11)
    assert blend(np.array([1.0, 2.0]), np.array([3.0, np.nan]), 0.25).tolist() == [2.5, 2.0]


def test_cell_regression_recovers_a_total_from_its_parts_and_needs_enough_cells():
    rng = np.random.default_rng(0)
    parts = rng.gamma(2.0, 50.0, size=(300, 2))
    total = parts.sum(axis=1)
    line, model = total + rng.normal(0, 40, 300), total + rng.normal(0, 30, 300)
    features = np.column_stack([line, model, parts])
    fit, error = fit_cell_regression(total, features, seed=0)
    assert error < 0.1 * np.abs(model - total).mean()
    np.testing.assert_allclose(predict_cells(fit, features[:5]), total[:5], atol=5.0)
    assert fit_cell_regression(total[:20], features[:20], seed=0) == (None, float("inf"))


def test_gap_lengths_count_each_run_of_missing_cells_within_its_entity():
    missing = np.array([0, 1, 1, 0, 1, 0, 1, 1, 1, 1], dtype=bool)
    assert gap_lengths(missing, np.arange(10)).tolist() == [0, 2, 2, 0, 1, 0, 4, 4, 4, 4]
    groups = np.array(list("aaaaaaabbb"))  # the last run is split between two entities
    assert gap_lengths(missing, np.arange(10), groups).tolist() == [0, 2, 2, 0, 1, 0, 1, 3, 3, 3]
    shuffled = np.array([3, 0, 2, 1])  # time order differs from row order
    assert gap_lengths(np.array([True, False, True, True]), shuffled).tolist() == [3, 0, 3, 3]


def test_cubic_interpolation_follows_curvature_falls_back_to_the_line_and_keeps_entities_apart():
    steps = np.arange(60.0)
    truth = np.sin(steps / 4)
    missing = np.zeros(60, dtype=bool)
    missing[[1, 10, 20, 21, 30, 58]] = True
    values = np.where(missing, np.nan, truth)
    cubic = cubic_interpolation(values, missing, np.arange(60))
    line = linear_interpolation(values, missing, np.arange(60))
    inner = [10, 20, 21, 30]
    assert np.abs(cubic - truth)[inner].max() < 0.1 * np.abs(line - truth)[inner].min()
    # one observed cell on a side: the line; observed cells untouched
    assert cubic[[1, 58]].tolist() == line[[1, 58]].tolist()
    assert np.array_equal(cubic[~missing], truth[~missing])
    # two entities of 30 steps: the gap at step 30 (first of the second entity) holds its entity's first value
    groups = np.repeat(["a", "b"], 30)
    split = cubic_interpolation(values, missing, np.arange(60), groups)
    assert split[30] == truth[31]


def test_regressor_selection_finds_the_parts_of_a_difference_and_skips_noise():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        target = rng.normal(0, 1, 600)  # a small part (casual riders) of a large total (all riders)
        other = rng.normal(0, 100, 600)
        total = target + other  # either alone says next to nothing about the target (adding one at a time stalls)
        line = target + rng.normal(0, 1.0, 600)
        base = np.column_stack([line, line])
        fallback = np.abs(line - target)
        candidates = {"noise": rng.normal(size=600), "total": total, "other": other}
        assert sorted(select_regressors(target, base, candidates, fallback, seed=0)) == ["other", "total"]
    # unobserved cells of a candidate are left to the blend: a candidate seen at 5 % of the cells adds nothing
    sparse = np.where(rng.random(600) < 0.05, total, np.nan)
    assert select_regressors(target, base, {"sparse": sparse}, fallback, seed=0) == []
    # no validation cells at all (a column without short gaps): nothing to select, no error
    assert select_regressors(np.zeros(0), np.zeros((0, 2)), {"total": np.zeros((0, 2))}, np.zeros(0), seed=0) == []


def daily_load(num_days: int, seed: int) -> np.ndarray:
    """Hourly series: a wandering level, a sharp evening peak every day and noise."""
    rng = np.random.default_rng(seed)
    hour = np.arange(24 * num_days) % 24
    level = np.cumsum(rng.normal(0, 0.3, 24 * num_days))
    return level + 5 * np.exp(-(((hour - 18) / 1.5) ** 2)) + rng.normal(0, 0.2, 24 * num_days)


def test_dominant_period_finds_a_daily_cycle_and_none_without_one():
    rng = np.random.default_rng(0)
    series = daily_load(40, seed=0)
    missing = rng.random(len(series)) < 0.1
    order = np.arange(len(series))
    assert dominant_period(series, missing, order) == 24
    # two entities back to back, rows shuffled: still a day
    shuffled = rng.permutation(2 * len(series))
    both, groups = np.concatenate([series, daily_load(40, seed=1)]), np.repeat(["a", "b"], len(series))
    table = pd.DataFrame({"id": groups[shuffled], "t": np.tile(order, 2)[shuffled]})
    assert (
        dominant_period(
            both[shuffled], np.zeros(len(both), dtype=bool), time_order(table, "id", "t"), table["id"].to_numpy()
        )
        == 24
    )
    # noise and a smooth random walk (correlated with itself at every lag) have no cycle
    assert dominant_period(rng.normal(size=960), missing, order) is None
    assert dominant_period(np.cumsum(rng.normal(size=960)), missing, order) is None


def test_seasonal_interpolation_recovers_a_daily_peak_that_the_line_cuts():
    series = daily_load(30, seed=2)
    missing = np.zeros(len(series), dtype=bool)
    missing[24 * np.arange(3, 27, 2) + 18] = True  # every other evening peak
    missing[24 * np.arange(4, 27, 2) + 6] = True  # and quiet mornings
    order = np.arange(len(series))
    values = np.where(missing, np.nan, series)
    seasonal = seasonal_interpolation(values, missing, order, None, 24)
    line = linear_interpolation(values, missing, order)
    assert np.abs(seasonal - series)[missing].mean() < 0.5 * np.abs(line - series)[missing].mean()
    assert np.array_equal(seasonal[~missing], series[~missing])
    # a cell whose neighbouring days are outside its entity keeps the line
    groups = np.repeat(np.arange(30), 24)  # every day its own entity
    alone = seasonal_interpolation(values, missing, order, groups, 24)
    np.testing.assert_array_equal(alone, linear_interpolation(values, missing, order, groups))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipeline = TimeAutoDiffPipeline.from_pretrained(train_tiny_pipeline(tmp_path_factory.mktemp("blend")))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_blended_imputation_keeps_observed_cells_reports_weights_and_is_not_worse(pipe):
    table = make_tiny_table(seed=5)
    holes = table.copy()
    hidden = np.random.default_rng(0).random(len(table)) < 0.2
    holes["temperature"] = holes["temperature"].mask(hidden)
    holes["load"] = holes["load"].astype(float).mask(np.roll(hidden, 3))
    errors, results = {}, {}
    for flag in (False, True):
        pipe.blend_with_interpolation = flag
        filled = pipe.impute(holes, num_inference_steps=5, generator=torch.Generator().manual_seed(0))
        errors[flag] = np.abs(filled.loc[hidden, "temperature"] - table.loc[hidden, "temperature"]).mean()
        results[flag] = filled
    pipe.blend_with_interpolation = True
    blended = results[True]
    assert set(blended.attrs["model_weights"]) == {"temperature", "load"}
    assert all(0.0 <= weight <= 1.0 for weight in blended.attrs["model_weights"].values())
    assert results[False].attrs["model_weights"] == {}
    assert blended.loc[~hidden, "temperature"].equals(table.loc[~hidden, "temperature"])
    assert blended["load"].dtype == holes["load"].dtype and blended["load"].notna().all()
    filled_load = blended.loc[np.roll(hidden, 3), "load"]
    assert (filled_load == filled_load.round()).all(), "integer-valued columns stay integers after blending"
    line = holes.groupby("station")["temperature"].transform(lambda s: s.interpolate(limit_direction="both"))
    line_error = np.abs(line[hidden] - table.loc[hidden, "temperature"]).mean()
    assert errors[True] <= 1.05 * min(errors[False], line_error)
    again = pipe.impute(holes, num_inference_steps=5, generator=torch.Generator().manual_seed(0))
    assert again.equals(blended)


def test_a_series_that_trended_past_its_training_range_is_filled_at_its_level(pipe):
    # a later period far above anything trained on (the stock-price case): holes follow their neighbours, they are not
    # cut off at the training maximum
    table = make_tiny_table(seed=8)
    table["temperature"] += 100.0
    hidden = np.arange(len(table)) % 5 == 2
    holes = table.copy()
    holes["temperature"] = holes["temperature"].mask(hidden)
    filled = pipe.impute(holes, num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    training_max = next(c["max"] for c in pipe.processor.columns if c["name"] == "temperature")
    assert filled.loc[hidden, "temperature"].min() > training_max + 50
    assert np.abs(filled.loc[hidden, "temperature"] - table.loc[hidden, "temperature"]).mean() < 5.0


def test_several_draws_are_blended_with_the_same_weights(pipe):
    holes = make_tiny_table(seed=6)
    holes["temperature"] = holes["temperature"].mask(np.arange(len(holes)) % 4 == 1)
    draws = pipe.impute(holes, num_samples=3, num_inference_steps=3, generator=torch.Generator().manual_seed(1))
    assert sorted(draws["sample"].unique()) == [0, 1, 2]
    assert draws.groupby("sample")["temperature"].apply(lambda s: s.notna().all()).all()
    point = draws.attrs["point_estimate"]
    assert point.shape == holes.shape and point["temperature"].notna().all()


def test_cross_column_regression_is_kept_only_where_it_validates_and_keeps_observed_cells(pipe):
    table = make_tiny_table(num_steps=300, seed=7)
    hidden = np.random.default_rng(1).random(len(table)) < 0.15
    holes = table.copy()
    holes["temperature"] = holes["temperature"].mask(hidden)
    errors = {}
    for flag in (False, True):
        pipe.regress_on_other_columns = flag
        filled = pipe.impute(holes, num_inference_steps=3, generator=torch.Generator().manual_seed(0))
        errors[flag] = np.abs(filled.loc[hidden, "temperature"] - table.loc[hidden, "temperature"]).mean()
        assert filled.loc[~hidden, "temperature"].equals(table.loc[~hidden, "temperature"])
        assert filled["temperature"].notna().all()
        regressed = filled.attrs["regressed_columns"]
        assert set(regressed) <= {"temperature"} and set(regressed.get("temperature", [])) <= {"load"}
    pipe.regress_on_other_columns = True
    assert errors[True] <= 1.1 * errors[False]


def test_cells_missing_a_regressor_use_the_fallback_fit_and_old_fits_still_work(pipe):
    table = make_tiny_table(num_steps=200, seed=3)
    hidden = np.zeros(len(table), dtype=bool)
    hidden[np.arange(10, 390, 10)] = True
    holes = table.copy()
    holes["temperature"] = holes["temperature"].mask(hidden)
    without_load = hidden & (np.arange(len(table)) % 20 == 0)
    holes["load"] = holes["load"].astype(float).mask(without_load)
    targets = {"temperature": holes["temperature"].to_numpy(dtype=float)}
    timeline = pipe._time_order(holes)
    result = holes.fillna({"temperature": 9.0, "load": 50.0})

    def constant(value: float, num_features: int) -> dict:
        return {
            "mean": [0.0] * num_features,
            "scale": [1.0] * num_features,
            "coefficients": [0.0] * num_features,
            "intercept": value,
        }

    full = {"regressors": ["load"], "inputs_per_regressor": 1, **constant(12.0, 4)}
    fallback = {"regressors": [], **constant(7.0, 3)}
    for fit in ({**full, "seasonal_period": None, "fallbacks": [fallback]}, full):
        filled = pipe._blend_filled_cells(result, holes, targets, timeline, {"temperature": 1.0}, {"temperature": fit})
        assert (filled.loc[hidden & ~without_load, "temperature"] == 12.0).all()
        # with a fallback the cells without `load` get it; an old fit without fallbacks leaves them to the blend
        expected = 7.0 if "fallbacks" in fit else 9.0
        assert (filled.loc[without_load, "temperature"] == expected).all()
        assert filled.loc[~hidden, "temperature"].equals(table.loc[~hidden, "temperature"])
