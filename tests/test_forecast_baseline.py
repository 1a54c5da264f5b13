"""Forecasts combined with a naive baseline (seasonal, last value, drift, damped trend, Holt-Winters) by backtest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_model import make_tiny_table, tiny_training_args

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.forecast_baseline import (
    BASELINES,
    baseline_forecast,
    best_baseline,
    combine_with_baseline,
    fit_step_weights,
    seasonal_period,
)
from timeautodiff_hf.pipeline_timeautodiff import FORECAST_CALIBRATION_FILE, backtest_spans


def test_seasonal_period_follows_the_time_step():
    assert seasonal_period(1 / 24) == 24  # hourly -> a day
    assert seasonal_period(15 / 1440) == 96  # 15 minutes -> a day
    assert seasonal_period(1.0) == 7  # daily -> a week
    assert seasonal_period(7.0) == 52
    assert seasonal_period(30.0) == 12
    assert seasonal_period(91.0) == 4
    assert seasonal_period(7 / 24) is None  # 7 hours do not divide a day
    assert seasonal_period(None) is None


def test_baselines_repeat_the_last_season_or_the_last_observed_value():
    history = np.array([9.0, 1.0, 2.0, 3.0, np.nan])
    cycled = baseline_forecast(history, 5, "seasonal", 2)
    assert cycled[[0, 2, 4]].tolist() == [3.0, 3.0, 3.0] and np.isnan(cycled[[1, 3]]).all(), "missing stays unknown"
    seasonal = baseline_forecast(np.array([9.0, 1.0, 2.0, 3.0]), 5, "seasonal", 3)
    assert seasonal.tolist() == [1.0, 2.0, 3.0, 1.0, 2.0]
    assert np.isnan(baseline_forecast(np.array([1.0, 2.0]), 3, "seasonal", 24)).all(), "history shorter than a season"
    assert baseline_forecast(history, 2, "last_value", None).tolist() == [3.0, 3.0], "skips the missing last cell"
    with pytest.raises(ValueError, match="Unknown baseline 'mean'"):
        baseline_forecast(history, 2, "mean", None)


def test_drift_continues_the_trend_of_the_last_season_and_cancels_the_season():
    steps = np.arange(48, dtype=float)
    trend_and_season = 0.5 * steps + 3.0 * np.sin(2 * np.pi * steps / 12)
    drift = baseline_forecast(trend_and_season, 12, "drift", 12)
    assert np.allclose(drift, trend_and_season[-1] + 0.5 * np.arange(1, 13))  # a season apart: the sine cancels
    gappy = np.array([1.0, np.nan, 3.0, 4.0, np.nan])
    assert baseline_forecast(gappy, 2, "drift", None).tolist() == [6.0, 7.0], "a line through observed ends"
    assert np.isnan(baseline_forecast(np.array([np.nan, 2.0]), 2, "drift", None)).all(), "needs two observed"


def test_damped_trend_follows_a_new_slope_that_drift_averages_away():
    # flat for 40 steps, then rising by 1 per step for the last 8: the trend a forecaster should continue
    history = np.concatenate([np.full(40, 10.0), 10.0 + np.arange(1, 9)])
    future = 18.0 + np.arange(1, 7)
    damped = baseline_forecast(history, 6, "damped_trend", 24)
    drift = baseline_forecast(history, 6, "drift", 24)
    assert np.abs(damped - future).mean() < 0.5 * np.abs(drift - future).mean()
    assert np.all(np.diff(damped) > 0) and np.all(damped <= future + 1e-9), "continued, and damped, never steeper"


def test_damped_trend_stays_level_on_a_flat_noisy_series_and_skips_missing_cells():
    rng = np.random.default_rng(0)
    flat = 5.0 + rng.normal(0, 0.3, 60)
    flat[[10, 30, 59]] = np.nan
    forecast = baseline_forecast(flat, 12, "damped_trend", None)
    assert np.isfinite(forecast).all() and np.abs(forecast - 5.0).max() < 0.5
    assert np.isnan(baseline_forecast(np.array([1.0, np.nan, 2.0, 3.0]), 3, "damped_trend", None)).all(), (
        "needs four observed values"
    )


def test_holt_winters_averages_the_season_over_years_and_follows_the_trend():
    # eight years of a monthly season on a rising level, with noise: repeating the last year repeats its noise
    rng = np.random.default_rng(0)
    months = np.arange(108)
    clean = 0.05 * months + 3.0 * np.sin(2 * np.pi * months / 12)
    noisy = clean + rng.normal(0, 0.8, len(months))
    history, future = noisy[:96], clean[96:]
    errors = {kind: np.abs(baseline_forecast(history, 12, kind, 12) - future).mean() for kind in BASELINES}
    assert errors["holt_winters"] < 0.7 * min(errors[kind] for kind in BASELINES if kind != "holt_winters"), errors
    gappy = history.copy()
    gappy[[5, 40, 41, 95]] = np.nan
    assert np.abs(baseline_forecast(gappy, 12, "holt_winters", 12) - future).mean() < 1.2 * errors["holt_winters"]
    assert np.isnan(baseline_forecast(history[:23], 12, "holt_winters", 12)).all(), "needs two seasons"
    assert np.isnan(baseline_forecast(history, 12, "holt_winters", None)).all(), "needs a season length"
    leading_gap = np.concatenate([np.full(30, np.nan), history[30:]])  # phases count from the end: still aligned
    from_later_start = baseline_forecast(leading_gap, 12, "holt_winters", 12)
    assert np.abs(from_later_start - future).mean() < 1.5 * errors["holt_winters"]


def test_a_baseline_known_at_few_origins_is_no_candidate():
    # 10 origins, each forecasting rows 30..35 (+ origin) of a noisy column from the 30 rows before them
    rng = np.random.default_rng(1)
    values = rng.normal(size=60)
    values[24:36] = 0.25  # origin 0's last history values and its whole future: the last value is exact there
    future = np.stack([np.arange(30, 36) + origin for origin in range(10)])
    center = values[future] + rng.normal(0, 1.0, future.shape)
    past = [np.arange(origin, 30 + origin) for origin in range(10)]
    chosen = best_baseline(center, values, past, future, 6, None)
    assert chosen["combined_mae"] <= chosen["model_mae"] + 1e-12
    # with the other origins' histories missing (-1 rows) the baselines are known at origin 0 only, where the last
    # value is perfect: scored there alone it would win; it is no candidate, the model's forecast is kept
    blind = [rows if origin == 0 else np.full(30, -1) for origin, rows in enumerate(past)]
    chosen = best_baseline(center, values, blind, future, 6, None)
    assert chosen["weights"] == [0.0] * 6 and chosen["combined_mae"] == chosen["model_mae"]
    assert chosen["baseline_mae"] is None


def test_backtests_give_the_baselines_more_history_than_the_model():
    segment = np.arange(100)
    segment[10] = -1  # a bridged missing step, far enough back to be history of the baselines only
    spans = backtest_spans([segment], context=24, horizon=6, first_held_out=80, extra_history=48)
    assert len(spans) == 15  # forecasts starting at rows 80..94
    first = spans[0]
    assert first[-6:].tolist() == list(range(80, 86)) and len(first) == 24 + 6 + 48
    assert first[0] == 8 and -1 in first, "the baselines' part may hold missing steps, the model's never"
    assert (first[-30:] >= 0).all()
    assert len(backtest_spans([segment], 24, 6, 80)[0]) == 30, "no extra history by default"


def test_step_weights_pick_the_better_source_step_by_step():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(200, 12))
    noise = rng.normal(size=(200, 12))
    # The model is exact on the first half of the horizon, the baseline on the second.
    model = np.where(np.arange(12) < 6, truth, truth + noise)
    baseline = np.where(np.arange(12) < 6, truth + noise, truth)
    weights, combined_mae, model_mae = fit_step_weights(model, baseline, truth)
    assert weights[:4].tolist() == [0.0] * 4 and weights[-4:].tolist() == [1.0] * 4
    assert combined_mae < 0.5 * model_mae
    # Unknown truth is left out, and no known cell at all gives NaN errors and zero weights.
    weights, combined_mae, _ = fit_step_weights(model, np.full_like(model, np.nan), truth)
    assert not weights.any() and np.isnan(combined_mae)


def test_combination_shifts_every_path_by_the_same_amount_and_leaves_unknown_steps():
    paths = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, np.nan]])
    center = np.array([2.0, 3.0, 3.0])
    baseline = np.array([4.0, np.nan, 5.0])
    combined = combine_with_baseline(paths, center, baseline, [0.5])
    assert combined[:, 0].tolist() == [2.0, 4.0], "both paths move by 0.5 * (4 - 2): their spread is kept"
    assert combined[:, 1].tolist() == [2.0, 4.0], "no baseline: unchanged"
    assert combined[0, 2] == 4.0 and np.isnan(combined[1, 2]), "a path drawn as missing stays missing"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on a table whose validation period is long enough to calibrate forecasts on."""
    from timeautodiff_hf.trainer import main, parse_args

    directory = tmp_path_factory.mktemp("forecast_baseline")
    make_tiny_table(num_steps=400).to_csv(directory / "tiny.csv", index=False)
    output = directory / "model"
    main(parse_args(tiny_training_args(directory / "tiny.csv", output, "--forecast_calibration_origins", "12")))
    pipeline = TimeAutoDiffPipeline.from_pretrained(output)
    pipeline.set_progress_bar_config(disable=True)
    return output, pipeline


def test_training_calibrates_forecasts_on_the_validation_period_and_saves_it(trained):
    output, pipe = trained
    saved = json.loads((output / FORECAST_CALIBRATION_FILE).read_text())
    assert saved == pipe.forecast_calibration
    assert saved["period"] == 24 and saved["horizon"] == 8 and saved["num_origins"] == 12
    # Continuous columns: "load" (a feature) and "temperature" (metadata, forecast too unless given).
    assert set(saved["columns"]) == {"load", "temperature"}
    assert set(saved["columns_with_future_metadata"]) == {"load"}, "given metadata is not forecast"
    for setting in saved["columns"].values():
        assert setting["baseline"] in BASELINES and len(setting["weights"]) == 8
        assert setting["combined_mae"] <= setting["model_mae"] + 1e-9


def _forecast_error(pipe, table, horizon, seed):
    history = table.groupby("station").head(200)
    truth = table.groupby("station").nth(list(range(200, 200 + horizon)))
    forecast = pipe.forecast(
        history, horizon=horizon, num_samples=4, num_inference_steps=5, generator=torch.Generator().manual_seed(seed)
    )
    point = forecast.groupby(["station", "time"])["load"].median()
    truth = truth.set_index(["station", "time"])["load"]
    return float(np.abs(point - truth.loc[point.index]).mean()), forecast


def test_calibrated_forecasts_beat_the_model_alone_and_keep_their_shape(trained):
    _, pipe = trained
    table = make_tiny_table(num_steps=260, seed=11)
    calibration = pipe.calibrate_forecasts(
        make_tiny_table(num_steps=200, seed=12),
        num_origins=24,
        num_inference_steps=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert pipe.forecast_calibration is calibration
    errors = {}
    for calibrated in (True, False):
        pipe.forecast_calibration = calibration if calibrated else None
        errors[calibrated] = np.mean([_forecast_error(pipe, table, 16, seed)[0] for seed in range(3)])
    pipe.forecast_calibration = calibration
    assert errors[True] < errors[False], errors
    _, forecast = _forecast_error(pipe, table, 16, 0)
    assert len(forecast) == 2 * 4 * 16 and forecast["load"].dtype == table["load"].dtype
    assert forecast.attrs["forecast_baselines"] == {
        name: setting["baseline"] for name, setting in calibration["columns"].items()
    }
    # Known future metadata is returned exactly as given, never moved towards a baseline.
    history = table.groupby("station").head(200)
    future = table.groupby("station").nth(list(range(200, 208)))[["station", "time", "weather", "temperature"]]
    given = pipe.forecast(history, horizon=8, metadata_future=future, num_inference_steps=3)
    assert given["temperature"].tolist() == future["temperature"].tolist()
    assert set(given.attrs["forecast_baselines"]) == {"load"}


def test_calibration_round_trips_through_save_pretrained_and_bad_files_are_refused(trained, tmp_path):
    _, pipe = trained
    pipe.save_pretrained(tmp_path / "copy")
    loaded = TimeAutoDiffPipeline.from_pretrained(tmp_path / "copy")
    assert loaded.forecast_calibration == pipe.forecast_calibration
    history = make_tiny_table(num_steps=100, seed=3)
    first = pipe.forecast(history, horizon=6, num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    again = loaded.forecast(history, horizon=6, num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    pd.testing.assert_frame_equal(first, again)
    (tmp_path / "copy" / FORECAST_CALIBRATION_FILE).write_text(
        json.dumps({"columns": {"load": {"baseline": "magic", "weights": [0.0]}}})
    )
    with pytest.raises(ValueError, match="not a valid forecast calibration.*'load'"):
        TimeAutoDiffPipeline.from_pretrained(tmp_path / "copy")
    (tmp_path / "copy" / FORECAST_CALIBRATION_FILE).write_text(
        json.dumps({"period": 24, "columns": {"load": {"baseline": "seasonal", "weights": [0.5, 7.0]}}})
    )
    with pytest.raises(ValueError, match="'load': weights must be numbers in \\[0, 1\\]"):
        TimeAutoDiffPipeline.from_pretrained(tmp_path / "copy")
    loaded.forecast_calibration = None
    loaded.save_pretrained(tmp_path / "copy")
    assert not (tmp_path / "copy" / FORECAST_CALIBRATION_FILE).exists(), "a stale calibration is not left behind"


def test_calibration_needs_a_season_of_history_plus_a_quarter_window(trained):
    _, pipe = trained
    with pytest.raises(ValueError, match="no stretch of 26 consecutive steps"):
        pipe.calibrate_forecasts(make_tiny_table(num_steps=25))
    with pytest.raises(ValueError, match="num_origins"):
        pipe.calibrate_forecasts(make_tiny_table(num_steps=100), num_origins=0)


def test_a_short_held_out_period_calibrates_with_the_period_before_it_as_history(trained):
    _, pipe = trained
    saved = pipe.forecast_calibration
    table = make_tiny_table(num_entities=8, num_steps=100, seed=5)
    before, held_out = table.groupby("station").head(94), table.groupby("station").tail(6)
    with pytest.raises(ValueError, match="give a longer held-out period, or the period before it as `history`"):
        pipe.calibrate_forecasts(held_out, num_inference_steps=2)
    calibration = pipe.calibrate_forecasts(held_out, history=before, num_origins=50, num_inference_steps=2)
    # forecasts only ever start inside the held-out period: 6 steps per station, fewer than the window of 8
    assert calibration["horizon"] == 6 and calibration["num_origins"] == 8
    assert all(len(setting["weights"]) == 6 for setting in calibration["columns"].values())
    # fewer stations: shorter horizons give more origins (4 stations: 2 per station at 5 steps), down to a quarter
    # window; one station gives 5 origins at 2 steps, too few
    fewer = pipe.calibrate_forecasts(held_out[held_out["station"].isin(["s0", "s1", "s2", "s3"])], history=before)
    assert (fewer["horizon"], fewer["num_origins"]) == (5, 8)
    with pytest.raises(ValueError, match="only 5 forecast origins .* too few to fit the weights on"):
        pipe.calibrate_forecasts(held_out[held_out["station"] == "s0"], history=before)
    with pytest.raises(ValueError, match="`history` lacks the columns \\['load'\\]"):
        pipe.calibrate_forecasts(held_out, history=before.drop(columns="load"))
    pipe.forecast_calibration = saved


def test_a_falling_drift_never_takes_a_non_negative_column_below_zero(trained):
    _, pipe = trained
    saved = pipe.forecast_calibration
    history = make_tiny_table(num_steps=48, seed=6)
    history["load"] = np.tile(np.linspace(60, 2, 48).round().astype(np.int64), 2)  # falls ~1.2 per step
    pipe.forecast_calibration = {"period": 24, "columns": {"load": {"baseline": "drift", "weights": [1.0]}}}
    forecast = pipe.forecast(history, horizon=8, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    pipe.forecast_calibration = saved
    assert forecast.attrs["forecast_baselines"] == {"load": "drift"}
    assert forecast["load"].min() == 0 and forecast.groupby("station")["load"].first().max() <= 2


def test_a_history_too_short_for_the_calibrated_baseline_keeps_the_model_and_says_so(trained, caplog):
    _, pipe = trained
    saved = pipe.forecast_calibration
    history = make_tiny_table(num_steps=30, seed=7)  # 30 steps: a season of 24, not the two Holt-Winters needs
    pipe.forecast_calibration = {"period": 24, "columns": {"load": {"baseline": "holt_winters", "weights": [1.0]}}}
    with caplog.at_level("WARNING", logger="timeautodiff_hf.pipeline_timeautodiff"):
        calibrated = pipe.forecast(
            history, horizon=6, num_inference_steps=2, generator=torch.Generator().manual_seed(0)
        )
    pipe.forecast_calibration = None
    alone = pipe.forecast(history, horizon=6, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    pipe.forecast_calibration = saved
    assert calibrated["load"].tolist() == alone["load"].tolist()
    assert calibrated.attrs["forecast_baselines"] == {}, "a baseline no series could use is not reported as used"
    assert "'load' (holt_winters) in 2 of 2 series" in caplog.text and "2-8 seasons for Holt-Winters" in caplog.text


def test_a_column_missing_throughout_the_backtest_keeps_the_model_and_writes_strict_json(trained):
    _, pipe = trained
    saved = pipe.forecast_calibration
    table = make_tiny_table(num_steps=100, seed=4)
    table["load"] = np.nan
    calibration = pipe.calibrate_forecasts(table, num_origins=4, num_inference_steps=2)
    pipe.forecast_calibration = saved
    load = calibration["columns"]["load"]
    assert load["model_mae"] is None and load["combined_mae"] is None and not any(load["weights"])
    json.dumps(calibration, allow_nan=False)  # no NaN in the saved file
