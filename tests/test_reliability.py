"""Bad inputs, faults, untrusted folders and determinism across processor, training, pipeline and CLI.

Cases already covered elsewhere are not repeated here:

- processor fit errors (empty table, all-NaN column, mixed-type object column, +-infinity, mixed time-zone offsets,
  duplicate timestamps, declared binary with 3 values, 12 identifier-like strings): `FIT_ERRORS` in
  `tests/test_processing_timeautodiff.py`; encode errors (unseen category, missing/extra column, infinity at encode,
  other time zone): `ENCODE_ERRORS` there; constructor arguments (`sequence_length=0`, `-1`, `2.5`):
  `CONSTRUCTOR_ERRORS`;
- decode(encode(x)) identity for bool, Int64, string, category, float32 (and more): `DTYPE_CASES` and
  `test_when_random_mixed_frames_with_nans_round_trip_then_decode_is_the_identity` there;
- pipeline `num_sequences=0`/`2.5`, wrong `mask` shape, NaN in `generate(metadata=...)`, `metadata_future` with the
  wrong number of rows, same seed -> same generated table, `vae=["os", "system"]` in model_index.json:
  `tests/test_pipeline_timeautodiff.py`;
- half-written checkpoints (no marker) skipped by `latest` after a real kill: `tests/test_training.py`.

Everything runs on one CPU thread (the suite shares 2 cores with benchmarks) with `num_inference_steps=2`.
"""

from __future__ import annotations

import ast
import copy
import errno
import importlib
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timeautodiff_hf import TimeAutoDiffPipeline, TimeAutoDiffProcessor
from timeautodiff_hf.cli import main as cli_main
from timeautodiff_hf.trainer import COMPLETE_MARKER, list_checkpoints, main, parse_args, resolve_resume_path

try:
    from .tiny_model import make_tiny_table, tiny_training_args, train_tiny_pipeline
except ImportError:
    from tiny_model import make_tiny_table, tiny_training_args, train_tiny_pipeline

FEATURES = ["temperature", "load", "mode", "busy", "weather"]
STEPS = 2
FAST = ("--vae_steps", "3", "--denoiser_steps", "3")
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "timeautodiff_hf"


# ---------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread: two threads fighting a benchmark for 2 cores make tiny trainings 25x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model_dir(one_thread, tmp_path_factory) -> Path:
    """The tiny model, trained once, with resumable checkpoints (vae-20, vae-40, denoiser-20)."""
    return train_tiny_pipeline(tmp_path_factory.mktemp("reliability"), "--checkpointing_steps", "20")


@pytest.fixture(scope="module")
def table_path(model_dir) -> Path:
    return model_dir.parent / "tiny.csv"


@pytest.fixture(scope="module")
def pipe(model_dir) -> TimeAutoDiffPipeline:
    pipeline = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def hourly(periods: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=periods, freq="h")


def small_table(num_steps: int = 12, seed: int = 3) -> pd.DataFrame:
    return make_tiny_table(num_steps=num_steps, seed=seed)


def scenario(num_rows: int = 8) -> pd.DataFrame:
    return small_table(num_steps=num_rows).query("station == 's0'")[["time", "weather", "temperature"]]


def future_metadata(history: pd.DataFrame, horizon: int, shift_hours: int = 1, **values) -> pd.DataFrame:
    frames = []
    for station, end in history.groupby("station")["time"].max().items():
        times = pd.date_range(end + pd.Timedelta(hours=shift_hours), periods=horizon, freq="h")
        frames.append(pd.DataFrame({"station": station, "time": times, "weather": "rain", "temperature": 3.5}))
    return pd.concat(frames, ignore_index=True).assign(**values)


def copy_model(model_dir: Path, destination: Path) -> Path:
    shutil.copytree(model_dir, destination, ignore=shutil.ignore_patterns("checkpoint-*"))
    return destination


def with_holes(table: pd.DataFrame, column: str, rows) -> pd.DataFrame:
    """`table` with the cells of `column` at row positions `rows` missing (ints become floats, bools objects)."""
    flags = np.zeros(len(table), dtype=bool)
    flags[list(rows)] = True
    series = table[column]
    if flags.any() and series.dtype == bool:
        series = series.astype(object)
    return table.assign(**{column: series.mask(flags)})


def assert_observed_cells_unchanged(before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Every non-missing cell of `before` is bit-for-bit the same in `after`; every missing feature cell is filled."""
    assert after.index.equals(before.index)
    assert list(after.columns) == list(before.columns)
    for name in before.columns:
        observed = before[name].notna().to_numpy()
        old, new = before[name].to_numpy()[observed], after[name].to_numpy()[observed]
        if old.dtype.kind == "f":
            assert np.array_equal(old.view(np.int64), new.astype(old.dtype).view(np.int64)), name
        else:
            assert old.tolist() == new.tolist(), name
        assert after[name].notna().all(), f"{name} still has missing cells"


# ------------------------------------------------------------------------------------------------------ 1. processor
CONSTANT_COLUMNS = {
    "float": pd.Series([5.25] * 12),
    "int": pd.Series([7] * 12, dtype="int64"),
    "string": pd.Series(["k"] * 12),
    "bool": pd.Series([True] * 12),
}


@pytest.mark.parametrize("case", list(CONSTANT_COLUMNS))
def test_when_a_column_is_constant_then_it_round_trips_and_any_model_output_decodes_to_the_constant(case):
    series = CONSTANT_COLUMNS[case]
    frame = pd.DataFrame({"time": hourly(12), "x": series})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4)
    decoded = processor.decode(batch["values"], timestamps=batch["timestamps"])
    pd.testing.assert_series_equal(decoded["x"], series, check_names=False)
    arbitrary = np.random.default_rng(0).normal(scale=5.0, size=(3, 4, 1))
    assert processor.decode(arbitrary)["x"].tolist() == [series[0]] * 12


EXTREME_COLUMNS = {
    # name: (values, rtol, atol)
    "1e30 magnitudes": (np.linspace(-1e30, 1e30, 12), 1e-15, 0.0),
    "near float max with small values": (np.array([1.7e308, -1.7e308, 0.5, 3.0] * 3), 1e-15, 0.0),
    "1e-12 spread": (1.0 + np.linspace(0.0, 1e-12, 12), 0.0, 1e-18),
}


# count_decimals' np.round(1.7e308, decimals) overflows to inf on the way (harmless: the value is then not "exact").
@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
@pytest.mark.parametrize("case", list(EXTREME_COLUMNS))
def test_when_values_are_extreme_or_nearly_equal_then_scores_are_finite_and_decode_round_trips(case):
    values, rtol, atol = EXTREME_COLUMNS[case]
    frame = pd.DataFrame({"time": hourly(12), "x": values})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    assert processor.column_kinds_fitted == ["continuous"]
    assert np.isfinite(processor.columns[0]["knots"]).all() and np.isfinite(processor.columns[0]["scores"]).all()
    batch = processor.encode(frame, stride=4)
    assert np.isfinite(batch["values"]).all() and np.abs(batch["values"]).max() < 4
    decoded = processor.decode(batch["values"], timestamps=batch["timestamps"])["x"].to_numpy()
    np.testing.assert_allclose(decoded, values, rtol=rtol, atol=atol)


def test_when_huge_integer_valued_floats_round_trip_then_no_exact_promise_is_made_beyond_float_precision():
    values = np.arange(12) * 1.5e30
    frame = pd.DataFrame({"time": hourly(12), "x": values})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4)
    decoded = processor.decode(batch["values"], timestamps=batch["timestamps"])["x"].to_numpy()
    # Beyond 2**53 rounding cannot repair the last ulp, so the processor must not claim fixed decimals.
    assert processor.columns[0]["decimals"] is None
    np.testing.assert_allclose(decoded, values, rtol=1e-14)


def test_when_the_table_has_a_single_row_then_fit_works_and_only_padded_inference_windows_hold_it():
    one = pd.DataFrame({"time": hourly(1), "x": [1.5], "s": ["a"]})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(one)
    with pytest.raises(ValueError, match=r"No window of sequence_length=4 fits.*longest has 1 rows"):
        processor.encode(one)
    batch = processor.encode(one, cover_all_rows=True)
    assert batch["row_index"].tolist() == [[0, -1, -1, -1]]
    decoded = processor.decode(batch["values"], observed_mask=batch["observed_mask"], timestamps=batch["timestamps"])
    assert decoded.loc[0, "x"] == 1.5 and decoded.loc[0, "s"] == "a" and decoded["x"].isna().sum() == 3


def test_when_10000_categories_are_inferred_then_max_categories_names_the_column():
    frame = pd.DataFrame({"time": hourly(10_000), "code": [f"c{index:05d}" for index in range(10_000)]})
    with pytest.raises(ValueError, match=r"Column 'code' has 10000 distinct values, more than `max_categories`=1000"):
        TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)


def test_when_10000_categories_are_declared_categorical_then_they_round_trip():
    frame = pd.DataFrame({"time": hourly(10_000), "code": [f"c{index:05d}" for index in range(10_000)]})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4, column_kinds={"code": "categorical"})
    processor.fit(frame)
    assert processor.category_sizes == [10_000]
    batch = processor.encode(frame, stride=4)
    decoded = processor.decode(batch["values"], observed_mask=batch["observed_mask"], timestamps=batch["timestamps"])
    pd.testing.assert_series_equal(decoded["code"], frame["code"])


def test_when_a_category_only_appears_in_the_test_data_then_encode_names_the_column_and_the_value():
    table = make_tiny_table()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="station", sequence_length=8)
    processor.fit(table[table["mode"] != "c"])
    with pytest.raises(ValueError, match=r"Column 'mode' has categories \[\"'c'\"\] that were not seen during fit"):
        processor.encode(table)


# ------------------------------------------------------------------------------------------------ 2. pipeline errors
PIPELINE_ERRORS = {
    "impute empty table": (lambda p: p.impute(small_table().iloc[:0], num_inference_steps=STEPS), "table is empty"),
    "impute unseen category": (
        lambda p: p.impute(small_table().assign(mode=["a", "b", "zzz", "c"] * 6), num_inference_steps=STEPS),
        r"Column 'mode' has categories \[\"'zzz'\"\] that were not seen during fit \(known: \['a', 'b', 'c'\]\)",
    ),
    "impute mixed-type category": (
        lambda p: p.impute(small_table().assign(mode=pd.Series(["a", 1] * 12, dtype=object)), num_inference_steps=2),
        r"Column 'mode' has categories \['1'\]",
    ),
    "impute extra column": (
        lambda p: p.impute(small_table().assign(extra=1.0), num_inference_steps=STEPS),
        r"columns \['extra'\] that the processor was not fitted on",
    ),
    "impute missing column": (
        lambda p: p.impute(small_table().drop(columns="load"), num_inference_steps=STEPS),
        r"lacks fitted columns \['load'\]",
    ),
    "forecast missing column": (
        lambda p: p.forecast(small_table().drop(columns="mode"), horizon=2, num_inference_steps=STEPS),
        r"lacks fitted columns \['mode'\]",
    ),
    "forecast extra column": (
        lambda p: p.forecast(small_table().assign(extra=1), horizon=2, num_inference_steps=STEPS),
        r"columns \['extra'\] that the processor was not fitted on",
    ),
    "impute duplicate timestamps": (
        lambda p: p.impute(pd.concat([small_table(), small_table().iloc[:1]]), num_inference_steps=STEPS),
        r"1 duplicate timestamps within an entity.*drop_duplicates\(subset=\['station', 'time'\]",
    ),
    "impute time zone differs from training": (
        lambda p: p.impute(
            small_table().assign(time=lambda t: t["time"].dt.tz_localize("UTC")), num_inference_steps=2
        ),
        r"Time column 'time' has time zone 'UTC' but the processor was fitted on None",
    ),
    "impute mixed time zone offsets": (
        lambda p: p.impute(
            small_table().assign(
                time=[f"2024-01-01 {h % 12:02d}:00{'+01:00' if h % 2 else '+02:00'}" for h in range(24)]
            ),
            num_inference_steps=STEPS,
        ),
        r"Time column 'time' mixes time zones",
    ),
    "impute infinity": (
        lambda p: p.impute(small_table().assign(temperature=[np.inf] + [1.0] * 23), num_inference_steps=STEPS),
        r"Column 'temperature' has 1 infinite values",
    ),
    "forecast horizon=-1": (
        lambda p: p.forecast(small_table(), horizon=-1, num_inference_steps=STEPS),
        r"`horizon` must be a positive integer, got -1",
    ),
    "forecast num_samples=1.5": (
        lambda p: p.forecast(small_table(), horizon=2, num_samples=1.5, num_inference_steps=STEPS),
        r"`num_samples` must be a positive integer, got 1.5",
    ),
    "impute num_samples=1.5": (
        lambda p: p.impute(small_table(), num_samples=1.5, num_inference_steps=STEPS),
        r"`num_samples` must be a positive integer, got 1.5",
    ),
    "impute batch_size=0": (
        lambda p: p.impute(small_table(), batch_size=0, num_inference_steps=STEPS),
        r"`batch_size` must be a positive integer, got 0",
    ),
    "call sequence_length=0": (
        lambda p: p(num_sequences=1, sequence_length=0, num_inference_steps=STEPS),
        r"`sequence_length` must be a positive integer, got 0",
    ),
    "generate with metadata and num_sequences=0": (
        lambda p: p.generate(num_sequences=0, metadata=scenario(), num_inference_steps=STEPS),
        r"`num_sequences` must be a positive integer, got 0",
    ),
    "generate metadata rows differ from sequence_length": (
        lambda p: p.generate(num_sequences=1, metadata=scenario(8), sequence_length=5, num_inference_steps=STEPS),
        r"`sequence_length`=5 differs from the 8 rows of `metadata`",
    ),
    "generate metadata with an unseen category": (
        lambda p: p.generate(num_sequences=1, metadata=scenario().assign(weather="snow"), num_inference_steps=STEPS),
        r"Column 'weather' has categories \[\"'snow'\"\]",
    ),
    "generate metadata with a non-metadata column": (
        lambda p: p.generate(num_sequences=1, metadata=scenario().assign(load=3), num_inference_steps=STEPS),
        r"`metadata` has columns \['load'\] that are not metadata",
    ),
    "forecast metadata_future with NaN": (
        lambda p: p.forecast(
            small_table(),
            horizon=3,
            metadata_future=future_metadata(small_table(), 3, temperature=[np.nan] + [1.0] * 5),
            num_inference_steps=STEPS,
        ),
        r"`metadata_future` has missing values in \['temperature'\]",
    ),
    "forecast metadata_future one step late": (
        lambda p: p.forecast(
            small_table(),
            horizon=3,
            metadata_future=future_metadata(small_table(), 3, shift_hours=2),
            num_inference_steps=2,
        ),
        r"`metadata_future` timestamps for entity 's0' do not match the forecast horizon",
    ),
    "mask frame lacking columns": (
        lambda p: p(observed=small_table(), mask=pd.DataFrame({"load": [True] * 24}), num_inference_steps=STEPS),
        r"`mask` must have 24 rows and the columns .*missing \['temperature', 'mode', 'busy', 'weather'\]",
    ),
    "mask with non-boolean values": (
        lambda p: p(observed=small_table(), mask=np.full((24, 5), 0.5), num_inference_steps=STEPS),
        r"`mask` must hold booleans",
    ),
    "mask with one row too many": (
        lambda p: p(observed=small_table(), mask=np.zeros((25, 5), dtype=bool), num_inference_steps=STEPS),
        r"`mask` must have shape \(24, 5\)",
    ),
}


@pytest.mark.parametrize("case", list(PIPELINE_ERRORS))
def test_when_the_pipeline_gets_bad_input_then_a_value_error_names_the_argument_or_column(pipe, case):
    action, message = PIPELINE_ERRORS[case]
    with pytest.raises(ValueError, match=message):
        action(pipe)


UNVALIDATED_ARGUMENTS = [
    pytest.param(
        lambda p: p.forecast(small_table(), horizon=2, num_inference_steps=0),
        "num_inference_steps",
        id="forecast num_inference_steps=0",
    ),
    pytest.param(
        lambda p: p.forecast(small_table(), horizon=2, batch_size=0, num_inference_steps=STEPS),
        "batch_size",
        id="forecast batch_size=0",
    ),
    pytest.param(
        lambda p: p.forecast(small_table(), horizon=2, guidance_scale=-1.0, num_inference_steps=STEPS),
        "guidance_scale",
        id="forecast guidance_scale=-1",
    ),
    pytest.param(
        lambda p: p.generate(num_sequences=2, metadata=scenario(), missing="sometimes", num_inference_steps=STEPS),
        "missing",
        id="generate with metadata missing='sometimes'",
    ),
    pytest.param(
        lambda p: p.generate(num_sequences=2, metadata=scenario(), batch_size=0, num_inference_steps=STEPS),
        "batch_size",
        id="generate with metadata batch_size=0",
    ),
]


@pytest.mark.parametrize(("action", "argument"), UNVALIDATED_ARGUMENTS)
def test_when_forecast_or_scenario_generation_get_invalid_sampling_arguments_then_a_value_error_names_them(
    pipe, action, argument
):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        action(pipe)


def test_when_forecast_gets_an_empty_history_then_the_error_says_it_is_empty(pipe):
    with pytest.raises(ValueError, match="empty"):
        pipe.forecast(small_table().iloc[:0], horizon=2, num_inference_steps=STEPS)


# --------------------------------------------------------------------------------------------- 3. pipeline behaviour
def test_when_rows_are_unsorted_with_a_custom_index_then_impute_keeps_order_index_entities_and_timestamps(pipe):
    table = small_table(num_steps=16).sample(frac=1.0, random_state=1)
    table.index = pd.Index(np.arange(1000, 1000 + 3 * len(table), 3)[::-1], name="row")
    holes = with_holes(with_holes(table, "load", range(0, 32, 3)), "mode", range(1, 32, 4))
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert filled.index.equals(holes.index) and filled.index.name == "row"
    assert filled["station"].tolist() == holes["station"].tolist()
    assert filled["time"].tolist() == holes["time"].tolist()
    assert_observed_cells_unchanged(holes, filled)


def test_when_entities_are_shorter_than_one_window_then_impute_still_fills_them(pipe):
    short = small_table(num_steps=5, seed=2)  # 5 rows per entity, window of 8
    holes = with_holes(with_holes(short, "temperature", [1, 3, 6]), "busy", [0, 9])
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert_observed_cells_unchanged(holes, filled)


def test_when_the_table_has_irregular_gaps_then_impute_fills_every_row_and_keeps_the_index(pipe):
    table = small_table(num_steps=20).drop(index=[3, 4, 10, 11, 12, 13, 14, 15, 25])  # gaps of 2 and 6 steps
    holes = with_holes(table, "load", range(0, len(table), 4))
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert_observed_cells_unchanged(holes, filled)


def test_when_a_column_is_entirely_missing_at_inference_then_impute_fills_it(pipe):
    holes = small_table().assign(temperature=np.nan)
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert filled["temperature"].dtype == np.float64
    assert_observed_cells_unchanged(holes, filled)


def test_when_the_table_has_a_single_row_then_impute_fills_it(pipe):
    holes = small_table().iloc[[5]].assign(load=np.nan, mode=None)
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert_observed_cells_unchanged(holes, filled)


def test_when_columns_are_nullable_boolean_int64_and_category_then_impute_keeps_their_dtypes(pipe):
    table = small_table()
    table["busy"] = table["busy"].astype("boolean")
    table["load"] = table["load"].astype("Int64")
    table["mode"] = table["mode"].astype("category")
    table.loc[[1, 4, 7], "busy"] = pd.NA
    table.loc[[2, 9], "load"] = pd.NA
    table.loc[[0, 5], "mode"] = np.nan
    filled = pipe.impute(table, num_inference_steps=STEPS, generator=seeded())
    assert filled.dtypes.to_dict() == table.dtypes.to_dict()
    assert_observed_cells_unchanged(table, filled)


def test_when_handle_unknown_is_missing_then_impute_replaces_an_unseen_category_with_a_known_one(pipe):
    processor = copy.deepcopy(pipe.processor)
    processor.handle_unknown = "missing"
    lenient = TimeAutoDiffPipeline(vae=pipe.vae, denoiser=pipe.denoiser, scheduler=pipe.scheduler, processor=processor)
    lenient.set_progress_bar_config(disable=True)
    table = small_table()
    table.loc[4, "mode"] = "zzz"
    filled = lenient.impute(table, num_inference_steps=STEPS, generator=seeded())
    assert filled.loc[4, "mode"] in {"a", "b", "c"}
    pd.testing.assert_frame_equal(filled.drop(index=4), table.drop(index=4))


def test_when_the_table_has_duplicate_index_labels_then_impute_fills_cells_by_position(pipe):
    table = small_table()
    stacked = pd.concat([rows.reset_index(drop=True) for _, rows in table.groupby("station")])  # labels 0..11 twice
    holes = with_holes(stacked, "temperature", [2])
    filled = pipe.impute(holes, num_inference_steps=STEPS, generator=seeded())
    assert_observed_cells_unchanged(holes, filled)


HOLE_TABLE = small_table(num_steps=12, seed=11)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    holes=st.lists(st.booleans(), min_size=HOLE_TABLE.shape[0] * 5, max_size=HOLE_TABLE.shape[0] * 5),
    order_seed=st.integers(min_value=0, max_value=2**16),
)
def test_when_random_cells_are_missing_then_impute_fills_them_and_keeps_every_observed_cell_bit_for_bit(
    pipe, holes, order_seed
):
    mask = np.asarray(holes).reshape(len(HOLE_TABLE), 5)
    table = HOLE_TABLE.copy()
    for index, name in enumerate(FEATURES):
        table = with_holes(table, name, np.flatnonzero(mask[:, index]))
    table = table.sample(frac=1.0, random_state=order_seed)
    table.index = table.index * 7 + 100
    filled = pipe.impute(table, num_inference_steps=STEPS, generator=seeded(order_seed))
    assert filled["station"].tolist() == table["station"].tolist()
    assert filled["time"].tolist() == table["time"].tolist()
    assert filled.dtypes.to_dict() == table.dtypes.to_dict()
    assert_observed_cells_unchanged(table, filled)


@pytest.mark.parametrize("task", ["impute", "forecast"])
def test_when_impute_or_forecast_use_the_same_seed_then_outputs_are_identical_and_another_seed_differs(pipe, task):
    table = with_holes(small_table(), "temperature", range(0, 24, 3))

    def run(seed):
        if task == "impute":
            return pipe.impute(table, num_inference_steps=STEPS, generator=seeded(seed))
        return pipe.forecast(table, horizon=4, num_samples=2, num_inference_steps=STEPS, generator=seeded(seed))

    first, second, other = run(1), run(1), run(2)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(other)


def test_when_generating_2000_sequences_with_batch_size_64_then_every_denoiser_call_sees_at_most_64(pipe):
    sizes = []
    hook = pipe.denoiser.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].shape[0]))
    try:
        frames = pipe.generate(num_sequences=2000, batch_size=64, num_inference_steps=STEPS, generator=seeded())
    finally:
        hook.remove()
    assert len(frames) == 2000 * 8 and frames["sequence_id"].nunique() == 2000
    assert max(sizes) == 64 and len(sizes) == 32 * STEPS and sum(sizes) == 2000 * STEPS


# ------------------------------------------------------------------------------------------------------- 4. training
def test_when_sequence_length_exceeds_every_entity_then_training_names_the_longest_segment(table_path, tmp_path):
    args = parse_args(tiny_training_args(table_path, tmp_path / "out", "--sequence_length", "100"))
    with pytest.raises(ValueError, match=r"No window of sequence_length=100 fits.*longest has \d+ rows"):
        main(args)


def test_when_the_output_dir_lies_under_a_file_then_training_fails_fast_naming_the_path(table_path, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    output_dir = blocker / "sub"
    with pytest.raises(OSError, match=re.escape(str(output_dir))):
        main(parse_args(tiny_training_args(table_path, output_dir)))


def test_when_the_loss_diverges_then_training_stops_with_a_floating_point_error_naming_the_stage(table_path, tmp_path):
    args = parse_args(tiny_training_args(table_path, tmp_path / "diverged", "--learning_rate", "1e9"))
    with pytest.raises(FloatingPointError, match=r"The VAE loss became (inf|nan) at step \d+\. Lower --learning_rate"):
        main(args)
    assert not (tmp_path / "diverged" / "model_index.json").exists()


def test_when_values_reach_1e308_then_quantile_scaling_keeps_training_and_generation_finite(tmp_path, one_thread):
    table = make_tiny_table()
    table["temperature"] = table["temperature"] * 1e306
    table.loc[0, "temperature"], table.loc[1, "temperature"] = 1.7e308, -1.7e308
    table.to_csv(tmp_path / "huge.csv", index=False)
    main(parse_args(tiny_training_args(tmp_path / "huge.csv", tmp_path / "huge", *FAST)))
    pipeline = TimeAutoDiffPipeline.from_pretrained(tmp_path / "huge")
    pipeline.set_progress_bar_config(disable=True)
    frames = pipeline.generate(num_sequences=3, num_inference_steps=STEPS, generator=seeded(), missing="none")
    assert np.isfinite(frames["temperature"]).all()
    assert frames["temperature"].between(-1.7e308, 1.7e308).all()


def test_when_training_twice_with_one_seed_then_weights_are_byte_identical_and_another_seed_differs(
    table_path, tmp_path
):
    files = ("vae/diffusion_pytorch_model.safetensors", "denoiser/diffusion_pytorch_model.safetensors")
    runs = {}
    for name, seed in (("first", "0"), ("second", "0"), ("other", "1")):
        main(parse_args(tiny_training_args(table_path, tmp_path / name, *FAST, "--seed", seed)))
        runs[name] = [(tmp_path / name / file).read_bytes() for file in files]
    assert runs["first"] == runs["second"]
    assert all(first != other for first, other in zip(runs["first"], runs["other"]))


UNICODE_NAME = "módus_名前_🚲"
LONG_NAME = "load_" + "ü" * 295


def test_when_columns_have_unicode_and_300_character_names_then_train_reload_generate_and_impute_work(
    tmp_path, one_thread
):
    assert len(LONG_NAME) == 300
    table = make_tiny_table().rename(columns={"mode": UNICODE_NAME, "load": LONG_NAME})
    table.to_csv(tmp_path / "names.csv", index=False, encoding="utf-8")
    main(parse_args(tiny_training_args(tmp_path / "names.csv", tmp_path / "names", *FAST)))
    pipeline = TimeAutoDiffPipeline.from_pretrained(tmp_path / "names")
    pipeline.set_progress_bar_config(disable=True)
    frames = pipeline.generate(num_sequences=2, num_inference_steps=STEPS, generator=seeded())
    assert list(frames.columns) == ["sequence_id", "time", "temperature", LONG_NAME, UNICODE_NAME, "busy", "weather"]
    assert set(frames[UNICODE_NAME]) <= {"a", "b", "c"}
    holes = with_holes(table.iloc[:20], UNICODE_NAME, [1, 5])
    assert_observed_cells_unchanged(holes, pipeline.impute(holes, num_inference_steps=STEPS, generator=seeded()))


# ---------------------------------------------------------------------------------------------------- 5. checkpoints
def test_when_the_newest_checkpoint_lacks_its_marker_then_latest_resumes_from_the_previous_one(model_dir, tmp_path):
    output_dir = tmp_path / "run"
    for checkpoint in list_checkpoints(model_dir):
        shutil.copytree(checkpoint, output_dir / checkpoint.name)
    args = parse_args(["--train_file", "x.csv", "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"])
    assert resolve_resume_path(args).name == "checkpoint-denoiser-20"
    (output_dir / "checkpoint-denoiser-20" / COMPLETE_MARKER).unlink()
    assert resolve_resume_path(args).name == "checkpoint-vae-40"
    args.resume_from_checkpoint = str(output_dir / "checkpoint-denoiser-20")
    with pytest.raises(ValueError, match=r"is not a complete checkpoint folder .*checkpoint_complete\.json"):
        resolve_resume_path(args)


CORRUPTIONS = [
    pytest.param("checkpoint-vae-20", "delete", id="vae checkpoint without model.safetensors"),
    pytest.param("checkpoint-denoiser-20", "delete", id="denoiser checkpoint without model.safetensors"),
    pytest.param(
        "checkpoint-vae-20",
        "garbage",
        id="vae checkpoint with garbage model.safetensors",
    ),
    pytest.param(
        "checkpoint-denoiser-20",
        "garbage",
        id="denoiser checkpoint with garbage model.safetensors",
    ),
]


@pytest.mark.parametrize(("name", "corruption"), CORRUPTIONS)
def test_when_resuming_from_a_corrupt_checkpoint_then_the_error_names_the_checkpoint(
    model_dir, table_path, tmp_path, name, corruption
):
    checkpoint = tmp_path / "saved" / name
    shutil.copytree(model_dir / name, checkpoint)
    if corruption == "delete":
        (checkpoint / "model.safetensors").unlink()
    else:
        (checkpoint / "model.safetensors").write_bytes(b"garbage!" * 8)
    args = parse_args(
        tiny_training_args(table_path, tmp_path / "resumed", "--resume_from_checkpoint", str(checkpoint))
    )
    with pytest.raises(Exception) as error:
        main(args)
    assert str(checkpoint) in str(error.value), f"{type(error.value).__name__}: {error.value}"


def test_when_a_saved_safetensors_file_is_truncated_then_from_pretrained_names_the_file(model_dir, tmp_path):
    folder = copy_model(model_dir, tmp_path / "truncated")
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    # Observed: diffusers raises OSError "Unable to load weights from checkpoint file for '<file>' at '<file>'".
    with pytest.raises(Exception, match=re.escape(str(weights))):
        TimeAutoDiffPipeline.from_pretrained(folder)


# ---------------------------------------------------------------------------------------------- 6. untrusted folders
@pytest.fixture
def recorded_imports(monkeypatch) -> list[str]:
    calls = []
    original = importlib.import_module

    def record(name, *args, **kwargs):
        calls.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", record)
    return calls


@pytest.mark.parametrize(
    ("component", "entry", "message"),
    [
        ("vae", ["builtins", "eval"], r"declares component 'vae' as \['builtins', 'eval'\].*Refusing to load"),
        ("denoiser", ["builtins", "eval"], r"declares component 'denoiser' as \['builtins', 'eval'\]"),
        ("scheduler", ["builtins", "eval"], r"declares component 'scheduler' as \['builtins', 'eval'\]"),
        ("processor", ["builtins", "eval"], r"declares component 'processor' as \['builtins', 'eval'\]"),
        ("helper", ["evil_module_xyz", "Evil"], r"declares unexpected components \['helper'\]; refusing to load"),
    ],
)
def test_when_model_index_names_foreign_code_then_loading_is_refused_before_any_import(
    model_dir, tmp_path, recorded_imports, component, entry, message
):
    folder = copy_model(model_dir, tmp_path / "tampered")
    index = json.loads((folder / "model_index.json").read_text())
    index[component] = entry
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / component).mkdir(exist_ok=True)
    with pytest.raises(ValueError, match=message):
        TimeAutoDiffPipeline.from_pretrained(folder)
    assert not [name for name in recorded_imports if name in ("builtins", "evil_module_xyz")]
    assert "evil_module_xyz" not in sys.modules


def tamper_processor_config(model_dir: Path, folder: Path, key: str) -> Path:
    copy_model(model_dir, folder)
    config_path = folder / "processor" / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config[key] = "evil_module_xyz.Evil"
    config_path.write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("key", ["feature_extractor_type", "processor_class"])
def test_when_the_processor_config_names_another_class_then_nothing_is_imported(
    model_dir, tmp_path, recorded_imports, key
):
    folder = tamper_processor_config(model_dir, tmp_path / "tampered", key)
    try:
        pipeline = TimeAutoDiffPipeline.from_pretrained(folder)
    except ValueError:
        pipeline = None  # refusing is fine too
    assert not [name for name in recorded_imports if "evil" in name]
    assert "evil_module_xyz" not in sys.modules
    assert pipeline is None or type(pipeline.processor) is TimeAutoDiffProcessor


@pytest.mark.parametrize("key", ["feature_extractor_type", "processor_class"])
def test_when_the_processor_config_names_another_class_then_loading_is_refused_naming_the_field(
    model_dir, tmp_path, key
):
    folder = tamper_processor_config(model_dir, tmp_path / "tampered", key)
    with pytest.raises(ValueError, match=f"{key}.*evil_module_xyz"):
        TimeAutoDiffPipeline.from_pretrained(folder)


def unsafe_calls(source: str) -> list[str]:
    """`pickle.load(s)`, `torch.load` without `weights_only=True`, and `trust_remote_code=True` calls in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        remote = keywords.get("trust_remote_code")
        if isinstance(remote, ast.Constant) and remote.value is True:
            found.append(f"trust_remote_code=True at line {node.lineno}")
        function = node.func
        if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            name = f"{function.value.id}.{function.attr}"
            if name in ("pickle.load", "pickle.loads", "cPickle.load", "dill.load"):
                found.append(f"{name} at line {node.lineno}")
            weights_only = keywords.get("weights_only")
            if name == "torch.load" and not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"torch.load without weights_only=True at line {node.lineno}")
    return found


def test_unsafe_call_detector_catches_the_patterns_it_looks_for():
    source = "pickle.load(f)\ntorch.load(p)\ntorch.load(p, weights_only=True)\nf(trust_remote_code=True)\n"
    assert unsafe_calls(source) == [
        "pickle.load at line 1",
        "torch.load without weights_only=True at line 2",
        "trust_remote_code=True at line 4",
    ]


def test_when_the_package_source_is_scanned_then_it_never_unpickles_or_trusts_remote_code():
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) > 10
    findings = {str(path.relative_to(PACKAGE_DIR)): unsafe_calls(path.read_text()) for path in files}
    assert {path: calls for path, calls in findings.items() if calls} == {}
    text = "\n".join(path.read_text() for path in files)
    assert "import pickle" not in text and "from pickle" not in text


# ------------------------------------------------------------------------------------------------------------ 7. CLI
def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli_main([str(item) for item in argv])
    return code, capsys.readouterr().err


CLI_TABLES = {
    "unseen category": lambda: small_table().assign(mode=["a", "b", "zzz", "c"] * 6),
    "extra column": lambda: small_table().assign(extra=1.0),
    "all-NaN column": lambda: make_tiny_table().assign(empty=np.nan),
    "NaN metadata": lambda: scenario().assign(temperature=[np.nan] + [1.0] * 7).drop(columns="time"),
}


def expand(template: list[str], model_dir: Path, data: Path, tmp_path: Path) -> list[str]:
    """Fill `{train}` (the tiny training flags on `data`), `{model}`, `{data}` and `{tmp}` in a CLI template."""
    argv = []
    for item in template:
        if item == "{train}":
            argv += tiny_training_args(data, tmp_path / "trained")
        else:
            argv.append(item.format(model=model_dir, data=data, tmp=tmp_path))
    return argv


SAMPLING = ["--model", "{model}", "--num-inference-steps", str(STEPS), "--output", "{tmp}/out.csv"]


@pytest.mark.parametrize(
    ("template", "table", "message"),
    [
        pytest.param(
            ["train", "{train}", "--sequence_length", "100"],
            None,
            "No window of sequence_length=100 fits",
            id="train sequence_length longer than every entity",
        ),
        pytest.param(
            ["train", "{train}", "--column_kinds", "mode=binary"],
            None,
            "Column 'mode' is declared binary but has 3 distinct values",
            id="train with a wrong declared column kind",
        ),
        pytest.param(
            ["train", "{train}"], "all-NaN column", "Column 'empty' is entirely missing", id="train all-NaN column"
        ),
        pytest.param(
            ["impute", *SAMPLING, "--input", "{data}"],
            "unseen category",
            "Column 'mode' has categories [\"'zzz'\"]",
            id="impute unseen category",
        ),
        pytest.param(
            ["impute", *SAMPLING, "--input", "{tmp}/absent.csv"],
            None,
            "absent.csv', which does not exist",
            id="impute input file absent",
        ),
        pytest.param(
            ["forecast", *SAMPLING, "--input", "{data}", "--horizon", "-1"],
            None,
            "`horizon` must be a positive integer, got -1",
            id="forecast horizon -1",
        ),
        pytest.param(
            ["forecast", *SAMPLING, "--input", "{data}", "--horizon", "2"],
            "extra column",
            "columns ['extra'] that the processor was not fitted on",
            id="forecast extra column",
        ),
        pytest.param(
            ["generate", *SAMPLING, "--num-sequences", "0"],
            None,
            "`num_sequences` must be a positive integer, got 0",
            id="generate zero sequences",
        ),
        pytest.param(
            ["generate", *SAMPLING, "--metadata", "{data}"],
            "NaN metadata",
            "`metadata` has missing values in ['temperature']",
            id="generate NaN metadata",
        ),
    ],
)
def test_when_a_cli_command_gets_bad_input_then_it_exits_2_with_the_message_on_stderr(
    model_dir, table_path, tmp_path, capsys, template, table, message
):
    data = table_path
    if table is not None:
        data = tmp_path / "input.csv"
        CLI_TABLES[table]().to_csv(data, index=False)
    code, err = run_cli(expand(template, model_dir, data, tmp_path), capsys)
    assert code == 2
    assert f"timeautodiff {template[0]}: error:" in err
    assert message in err


@pytest.mark.parametrize("case", ["train output under a file", "generate output under a file", "train diverges"])
def test_when_a_cli_command_hits_an_os_or_numeric_error_then_it_exits_2_with_the_message(
    model_dir, table_path, tmp_path, capsys, case
):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    if case == "train output under a file":
        argv = ["train", *tiny_training_args(table_path, blocker / "sub")]
    elif case == "generate output under a file":
        argv = ["generate", "--model", model_dir, "--num-sequences", 1, "--num-inference-steps", 1]
        argv += ["--output", blocker / "out.csv"]
    else:
        argv = ["train", *tiny_training_args(table_path, tmp_path / "out"), "--learning_rate", "1e9"]
    code, err = run_cli(argv, capsys)
    assert code == 2 and "error:" in err


# ---------------------------------------------------------------------- full disk
def no_space_on(call_number: int, original):
    """A `save_state` stand-in that writes part of a checkpoint and then fails as a full disk does."""
    calls = {"count": 0}

    def save_state(self, output_dir=None, **kwargs):
        calls["count"] += 1
        if calls["count"] == call_number:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            (Path(output_dir) / "model.safetensors").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, output_dir, **kwargs)

    return save_state


def test_full_disk_during_a_checkpoint_keeps_the_previous_one_and_resume_finishes(tmp_path, monkeypatch):
    from accelerate import Accelerator

    table_path = tmp_path / "tiny.csv"
    make_tiny_table().to_csv(table_path, index=False)
    output_dir = tmp_path / "run"
    flags = tiny_training_args(table_path, output_dir, "--checkpointing_steps", "10")
    monkeypatch.setattr(Accelerator, "save_state", no_space_on(2, Accelerator.save_state))
    with pytest.raises(OSError, match=r"checkpoint-vae-20.*No space left.*'checkpoint-vae-10' is intact.*latest"):
        main(parse_args(flags))
    assert [path.name for path in list_checkpoints(output_dir)] == ["checkpoint-vae-10"]
    assert not list(output_dir.glob(".tmp-*")), "the half-written checkpoint must be removed"
    monkeypatch.undo()
    main(parse_args([*flags, "--resume_from_checkpoint", "latest"]))
    pipe = TimeAutoDiffPipeline.from_pretrained(output_dir)
    pipe.set_progress_bar_config(disable=True)
    assert len(pipe(num_sequences=2, num_inference_steps=2).frames) == 2 * pipe.processor.sequence_length


def test_full_disk_when_saving_the_model_gives_a_clear_error(tmp_path, monkeypatch, capsys):
    import timeautodiff_hf.trainer as trainer

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    table_path = tmp_path / "tiny.csv"
    make_tiny_table().to_csv(table_path, index=False)
    monkeypatch.setattr(trainer, "save_with_card", no_space)
    flags = tiny_training_args(table_path, tmp_path / "run", "--vae_steps", "2", "--denoiser_steps", "2")
    assert cli_main(["train", *flags]) == 2
    message = capsys.readouterr().err
    assert "Could not save the trained model" in message and "No space left on device" in message
