"""End-to-end tests of TimeAutoDiffPipeline on a tiny trained model (all four tasks, loading, determinism)."""

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline

try:
    from .tiny_model import make_tiny_table, train_tiny_pipeline
except ImportError:
    from tiny_model import make_tiny_table, train_tiny_pipeline

FEATURES = ["temperature", "load", "mode", "busy", "weather"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_tiny_pipeline(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    pipeline = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_training_writes_a_complete_pipeline_folder(model_dir):
    for name in (
        "model_index.json",
        "training_args.json",
        "README.md",
        "processor/preprocessor_config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "denoiser/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
    ):
        assert (model_dir / name).is_file(), name
    assert not list(model_dir.rglob("*.bin")) and not list(model_dir.rglob("*.pkl"))
    training_args = json.loads((model_dir / "training_args.json").read_text())
    assert training_args["args"]["sequence_length"] == 8 and "torch" in training_args["versions"]
    assert training_args["device"] == "cpu" and training_args["num_processes"] == 1


def test_unconditional_generation_keeps_schema_dtypes_and_categories(pipe):
    frames = pipe(num_sequences=5, num_inference_steps=4, generator=seeded()).frames
    assert len(frames) == 5 * 8
    assert list(frames.columns) == ["sequence_id", "time", *FEATURES]
    assert frames["sequence_id"].nunique() == 5
    assert frames["load"].dtype == np.int64
    assert frames["busy"].dtype == bool
    assert frames["temperature"].dtype == np.float64
    assert set(frames["mode"]) <= {"a", "b", "c"}
    assert set(frames["weather"]) <= {"rain", "sun"}
    assert pd.api.types.is_datetime64_any_dtype(frames["time"])
    steps = frames.groupby("sequence_id")["time"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(hours=1)]
    table = make_tiny_table()
    assert frames["temperature"].between(table["temperature"].min(), table["temperature"].max()).all()


def test_same_generator_seed_gives_identical_tables(pipe):
    first = pipe(num_sequences=3, num_inference_steps=4, generator=seeded(7)).frames
    second = pipe(num_sequences=3, num_inference_steps=4, generator=seeded(7)).frames
    different = pipe(num_sequences=3, num_inference_steps=4, generator=seeded(8)).frames
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(different)


def test_impute_fills_missing_cells_and_keeps_observed_cells_bit_for_bit(pipe):
    table = make_tiny_table(num_steps=30, seed=3).sample(frac=1.0, random_state=0)
    holes = table.copy()
    rng = np.random.default_rng(0)
    holes["temperature"] = holes["temperature"].mask(rng.random(len(holes)) < 0.3)
    holes["mode"] = holes["mode"].mask(rng.random(len(holes)) < 0.3)
    filled = pipe.impute(holes, num_inference_steps=4, generator=seeded())
    assert filled.index.equals(holes.index) and list(filled.columns) == list(holes.columns)
    assert not filled.isna().any().any()
    observed = holes["temperature"].notna()
    assert np.array_equal(
        filled.loc[observed, "temperature"].to_numpy(), holes.loc[observed, "temperature"].to_numpy()
    )
    assert (filled.loc[holes["mode"].notna(), "mode"] == holes.loc[holes["mode"].notna(), "mode"]).all()
    assert set(filled["mode"]) <= {"a", "b", "c"}
    pd.testing.assert_series_equal(filled["load"], holes["load"])


def test_impute_with_several_samples_returns_every_draw_and_a_point_estimate(pipe):
    table = make_tiny_table(num_steps=16, seed=4)
    table.loc[::3, "load"] = np.nan
    draws = pipe.impute(table, num_samples=3, num_inference_steps=3, generator=seeded())
    assert len(draws) == 3 * len(table) and sorted(draws["sample"].unique()) == [0, 1, 2]
    point = draws.attrs["point_estimate"]
    assert point.shape == table.shape and not point["load"].isna().any()


def test_explicit_mask_regenerates_only_marked_cells(pipe):
    table = make_tiny_table(num_steps=16, seed=5)
    mask = pd.DataFrame(False, index=table.index, columns=FEATURES)
    mask.loc[:5, "load"] = True
    result = pipe(observed=table, mask=mask, num_inference_steps=3, generator=seeded()).frames
    pd.testing.assert_series_equal(result.loc[6:, "load"], table.loc[6:, "load"])
    pd.testing.assert_series_equal(result["temperature"], table["temperature"])


def test_forecast_continues_each_entity_with_future_timestamps_and_metadata(pipe):
    history = make_tiny_table(num_steps=20, seed=6)
    last = history.groupby("station")["time"].max()
    future = []
    for station, end in last.items():
        times = pd.date_range(end + pd.Timedelta(hours=1), periods=10, freq="h")
        future.append(pd.DataFrame({"station": station, "time": times, "weather": "rain", "temperature": 3.5}))
    metadata_future = pd.concat(future, ignore_index=True)
    forecast = pipe.forecast(
        history, horizon=10, metadata_future=metadata_future, num_samples=2, num_inference_steps=3, generator=seeded()
    )
    assert len(forecast) == 2 * 2 * 10
    for (_, station), rows in forecast.groupby(["sample", "station"]):
        expected = pd.date_range(last[station] + pd.Timedelta(hours=1), periods=10, freq="h")
        assert list(rows["time"]) == list(expected)
    assert (forecast["weather"] == "rain").all() and (forecast["temperature"] == 3.5).all()


def test_forecast_rejects_misaligned_future_metadata(pipe):
    history = make_tiny_table(num_steps=20, seed=6)
    wrong = pd.DataFrame({"station": ["s0"] * 3, "weather": ["rain"] * 3, "temperature": [1.0] * 3})
    with pytest.raises(ValueError, match="horizon=10"):
        pipe.forecast(history, horizon=10, metadata_future=wrong, num_inference_steps=2)


def test_what_if_generation_returns_the_scenario_unchanged(pipe):
    scenario = make_tiny_table(num_entities=1, num_steps=8, seed=9)[["time", "weather", "temperature"]]
    scenario["weather"] = "rain"
    generated = pipe.generate(num_sequences=4, metadata=scenario, num_inference_steps=3, generator=seeded())
    assert len(generated) == 4 * 8
    assert (generated["weather"] == "rain").all()
    assert np.array_equal(generated["temperature"].to_numpy(), np.tile(scenario["temperature"].to_numpy(), 4))
    assert list(generated["time"][:8]) == list(scenario["time"])


def test_what_if_rejects_missing_metadata_values(pipe):
    scenario = pd.DataFrame({"weather": ["rain", None], "temperature": [1.0, 2.0]})
    with pytest.raises(ValueError, match="missing values"):
        pipe.generate(num_sequences=1, metadata=scenario)


def test_long_generation_is_stitched_on_a_continuous_time_grid(pipe):
    frames = pipe.generate(num_sequences=2, sequence_length=30, num_inference_steps=3, generator=seeded())
    assert len(frames) == 60
    steps = frames.groupby("sequence_id")["time"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(hours=1)]


@pytest.mark.parametrize("scheduler_class", [DDIMScheduler, DPMSolverMultistepScheduler])
def test_few_step_schedulers_swap_in_from_config(model_dir, scheduler_class):
    pipeline = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipeline.set_progress_bar_config(disable=True)
    pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config)
    frames = pipeline(num_sequences=2, num_inference_steps=5, generator=seeded()).frames
    assert len(frames) == 16 and frames["temperature"].notna().all()


def test_array_outputs_are_model_space_windows(pipe):
    array = pipe(num_sequences=3, num_inference_steps=3, generator=seeded(), output_type="np", num_samples=2).frames
    assert array.shape == (6, 8, 5)
    tensor = pipe(num_sequences=3, num_inference_steps=3, generator=seeded(), output_type="pt").frames
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3, 8, 5)


def test_guidance_scale_runs_with_classifier_free_guidance(pipe):
    table = make_tiny_table(num_steps=16, seed=5)
    table.loc[::2, "load"] = np.nan
    filled = pipe.impute(table, guidance_scale=2.0, num_inference_steps=3, generator=seeded())
    assert not filled["load"].isna().any()


def test_bfloat16_weights_sample_close_to_float32_and_keep_observed_cells(pipe, model_dir):
    half = TimeAutoDiffPipeline.from_pretrained(model_dir, dtype=torch.bfloat16)
    half.set_progress_bar_config(disable=True)
    assert half.denoiser.dtype == torch.bfloat16 and half.vae.dtype == torch.bfloat16
    full = pipe(num_sequences=20, num_inference_steps=4, generator=seeded(3), output_type="np").frames
    reduced = half(num_sequences=20, num_inference_steps=4, generator=seeded(3), output_type="np").frames
    assert full.dtype == reduced.dtype == np.float64
    # same noise, weights rounded to 8 mantissa bits: the same windows up to rounding, not different draws
    other_draws = pipe(num_sequences=20, num_inference_steps=4, generator=seeded(4), output_type="np").frames
    assert np.abs(full - reduced).mean() < 0.2 * np.abs(full - other_draws).mean()
    frames = half(num_sequences=3, num_inference_steps=4, generator=seeded()).frames
    assert frames["temperature"].dtype == np.float64 and set(frames["mode"]) <= {"a", "b", "c"}
    table = make_tiny_table(num_steps=16, seed=8)
    table.loc[::3, "temperature"] = np.nan
    filled = half.impute(table, num_inference_steps=3, generator=seeded())
    observed = table["temperature"].notna()
    assert np.array_equal(filled.loc[observed, "temperature"], table.loc[observed, "temperature"])
    assert filled["temperature"].notna().all()


def test_save_and_reload_gives_identical_samples(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "copy")
    reloaded = TimeAutoDiffPipeline.from_pretrained(tmp_path / "copy")
    reloaded.set_progress_bar_config(disable=True)
    first = pipe(num_sequences=2, num_inference_steps=3, generator=seeded(1)).frames
    second = reloaded(num_sequences=2, num_inference_steps=3, generator=seeded(1)).frames
    pd.testing.assert_frame_equal(first, second)


def test_tampered_model_index_is_refused_before_any_import(model_dir, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(model_dir, copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["vae"] = ["os", "system"]
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="Refusing to load"):
        TimeAutoDiffPipeline.from_pretrained(copy)


def test_folder_missing_a_component_is_refused(model_dir, tmp_path):
    copy = tmp_path / "incomplete"
    shutil.copytree(model_dir, copy)
    shutil.rmtree(copy / "denoiser")
    with pytest.raises(ValueError, match="lacks the 'denoiser' component"):
        TimeAutoDiffPipeline.from_pretrained(copy)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_sequences": 0}, "num_sequences"),
        ({"num_sequences": 2.5}, "num_sequences"),
        ({"num_sequences": 2, "num_inference_steps": -1}, "num_inference_steps"),
        ({"num_sequences": 2, "output_type": "xls"}, "output_type"),
        ({"num_sequences": 2, "missing": "sometimes"}, "missing"),
        ({"num_sequences": 2, "guidance_scale": -1.0}, "guidance_scale"),
        ({}, "either `observed`"),
    ],
)
def test_when_call_arguments_invalid_then_raises_value_error(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(**kwargs)


def test_when_mask_has_wrong_shape_then_raises_value_error(pipe):
    table = make_tiny_table(num_steps=10)
    with pytest.raises(ValueError, match="mask"):
        pipe(observed=table, mask=np.zeros((3, 2), dtype=bool))


def test_when_the_training_timeline_had_absent_hours_then_as_data_generation_has_whole_missing_steps(pipe):
    processor = copy.deepcopy(pipe.processor)
    processor.time_info["gap_patterns"] = {"window_length": 8, "windows": 10, "share": 0.4, "runs": [[[3, 2]]]}
    gappy = TimeAutoDiffPipeline(vae=pipe.vae, denoiser=pipe.denoiser, scheduler=pipe.scheduler, processor=processor)
    gappy.set_progress_bar_config(disable=True)
    frames = gappy(num_sequences=200, num_inference_steps=4, generator=seeded()).frames
    missing_steps = frames[FEATURES].isna().all(axis=1).to_numpy().reshape(200, 8)
    assert 0.3 < missing_steps.any(axis=1).mean() < 0.5
    assert set(map(tuple, missing_steps[missing_steps.any(axis=1)].astype(int))) == {(0, 0, 0, 1, 1, 0, 0, 0)}
    assert frames["load"].dtype == "Int64" and frames["time"].notna().all()  # absent steps keep their timestamps
    complete = gappy(num_sequences=50, num_inference_steps=4, generator=seeded(), missing="none").frames
    assert not complete[FEATURES].isna().any().any()


def test_categorical_columns_are_decoded_as_paths_under_the_training_transitions(pipe):
    processor = copy.deepcopy(pipe.processor)
    mode = processor.column_names.index("mode")
    assert processor.columns[mode]["transition_counts"]  # counted by `fit` (random modes: about uniform)
    processor.columns[mode]["transition_counts"] = (np.eye(3, dtype=int) * 10**6).tolist()  # never changes
    sticky = TimeAutoDiffPipeline(vae=pipe.vae, denoiser=pipe.denoiser, scheduler=pipe.scheduler, processor=processor)
    sticky.set_progress_bar_config(disable=True)
    frames = sticky(num_sequences=30, num_inference_steps=4, generator=seeded()).frames
    assert (frames.groupby("sequence_id")["mode"].nunique() == 1).all()
    sticky.decode_category_paths = False
    stepwise = sticky(num_sequences=30, num_inference_steps=4, generator=seeded()).frames
    assert (stepwise.groupby("sequence_id")["mode"].nunique() > 1).any()
    # Given cells stay as given, and the path passes through them.
    table = make_tiny_table(num_steps=16, seed=5)
    table.loc[table.index % 8 != 0, "mode"] = np.nan
    sticky.decode_category_paths = True
    filled = sticky.impute(table, num_inference_steps=4, generator=seeded())
    given = table["mode"].notna()
    assert filled.loc[given, "mode"].tolist() == table.loc[given, "mode"].tolist()
    window = (filled.groupby("station").cumcount() // 8).to_numpy()
    assert (filled.groupby([filled["station"], window])["mode"].nunique() == 1).all()


def test_calendar_columns_take_their_timestamps_value_in_generation_imputation_and_forecasts(pipe):
    processor = copy.deepcopy(pipe.processor)
    mode = processor.column_names.index("mode")
    # As if training had shown `mode` to be a / b / c by hour modulo 3; hours 21-23 never seen.
    processor.columns[mode]["calendar"] = {"key": "hour", "values": [[h, "abc"[h % 3]] for h in range(21)]}
    dated = TimeAutoDiffPipeline(vae=pipe.vae, denoiser=pipe.denoiser, scheduler=pipe.scheduler, processor=processor)
    dated.set_progress_bar_config(disable=True)

    def follows_the_hour(frames):
        hours = frames["time"].dt.hour
        return (frames.loc[hours < 21, "mode"] == hours[hours < 21].map(lambda h: "abc"[h % 3])).all()

    frames = dated(num_sequences=20, sequence_length=30, num_inference_steps=4, generator=seeded()).frames
    assert follows_the_hour(frames)
    forecast = dated.forecast(make_tiny_table(), horizon=12, num_inference_steps=4, generator=seeded())
    assert follows_the_hour(forecast)
    table = make_tiny_table(num_steps=16, seed=5)
    table.loc[table.index % 4 != 0, "mode"] = np.nan
    filled = dated.impute(table, num_inference_steps=4, generator=seeded())
    given = table["mode"].notna()
    assert filled.loc[given, "mode"].tolist() == table.loc[given, "mode"].tolist()  # given cells win
    assert follows_the_hour(filled[~given])
    dated.fill_calendar_columns = False
    sampled = dated(num_sequences=20, num_inference_steps=4, generator=seeded()).frames
    assert not follows_the_hour(sampled)
