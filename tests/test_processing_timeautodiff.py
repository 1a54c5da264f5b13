"""Tests of `TimeAutoDiffProcessor`: schema inference, exact encode/decode round trips, windowing, time features,
splits, JSON serialisation and input validation, on tiny generated tables and on slices of every shared real table.

The real tables live in `shared/data` beside the repository (`../shared/data` from the repo root in CI, or
`/work/shared/data`); tests that need them skip with a reason when the folder is absent.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timeautodiff_hf import BIKE_SHARING_SCHEMA, TimeAutoDiffProcessor, load_bike_sharing

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROCESSOR_LOGGER = "timeautodiff_hf.processing_timeautodiff"
NULLABLE_DTYPES = {
    "bool": "boolean",
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
}
HOURLY_FEATURES = [
    "hour_of_day_sin",
    "hour_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
    "day_of_year_sin",
    "day_of_year_cos",
    "position",
]
DAILY_FEATURES = HOURLY_FEATURES[2:]
MONTHLY_FEATURES = ["month_of_year_sin", "month_of_year_cos", "position"]


# ---------------------------------------------------------------------------------------------------- shared data
def find_shared_data() -> Path | None:
    for candidate in (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return None


SHARED_DATA = find_shared_data()


def shared_file(relative: str) -> Path:
    if SHARED_DATA is None or not (SHARED_DATA / relative).exists():
        pytest.skip(
            f"shared data file {relative!r} not found (expected ../shared/data beside the repo or /work/shared/data)"
        )
    return SHARED_DATA / relative


def first_entities(frame: pd.DataFrame, column: str, count: int, also: tuple = ()) -> pd.DataFrame:
    """The rows of the first `count` entities plus the entities in `also` (chosen to include missing cells)."""
    keep = [*frame[column].drop_duplicates().iloc[:count], *also]
    return frame[frame[column].isin(keep)].reset_index(drop=True)


# Each loader returns (table slice, processor arguments, time format used by the test's own timestamp oracle).
# Time columns are left as the raw strings of the file so that the processor's own parsing is exercised.
@cache
def load_case(name: str) -> tuple[pd.DataFrame, dict, str | None]:
    if name == "metro":
        frame = pd.read_csv(
            shared_file("metro_traffic/Metro_Traffic.csv"), keep_default_na=False, na_values=[""], nrows=3000
        )
        frame = frame.drop_duplicates(subset=["date"], keep="first").reset_index(drop=True)
        return frame, {"time_column": "date", "metadata_columns": ["holiday", "temp"]}, "%m/%d/%Y %H:%M"
    if name == "beijing_pm25":
        frame = pd.read_csv(shared_file("beijing_pm25/Pollution_Data.csv"), nrows=3000)
        return frame, {"time_column": "date"}, "%m/%d/%Y %H:%M"
    if name == "hurricane":
        frame = pd.read_csv(shared_file("hurricane/Hurricane.csv"), encoding="utf-8-sig")
        arguments = {
            "time_column": "date",
            "entity_column": "region",
            "static_columns": ["type"],
            "metadata_columns": ["hurricane"],
        }
        # Hernando and Miami-Dade are two of the five counties whose `type` is missing.
        return first_entities(frame, "region", 8, ("Hernando", "Miami-Dade")), arguments, "%m/%d/%Y %H:%M"
    if name == "airquality":
        frame = pd.read_csv(shared_file("airquality_uci/AirQuality.csv"), nrows=3000)
        sentinels = {column: -200 for column in frame.columns if column != "date"}
        return frame, {"time_column": "date", "missing_values": sentinels}, "%m/%d/%Y %H:%M"
    if name == "etth1":
        frame = pd.read_csv(shared_file("etth/ETTh1.csv"), nrows=3000)
        return frame, {"time_column": "date"}, "%Y-%m-%d %H:%M:%S"
    if name == "stocks_google":
        frame = pd.read_csv(shared_file("stocks_google/stock_data_timegan.csv"), nrows=3000)
        return frame, {}, None
    if name == "bike_sharing":
        return load_bike_sharing(num_rows=3000), dict(BIKE_SHARING_SCHEMA), None
    if name == "nasdaq100":
        frame = pd.read_csv(shared_file("nasdaq100_2019/nasdaq100_2019.csv"))
        arguments = {
            "time_column": "date",
            "entity_column": "Symbol",
            "static_columns": ["MarketCap", "Sector", "Industry"],
        }
        # BKNG and ZM are two of the ten symbols without MarketCap, Sector and Industry.
        return first_entities(frame, "Symbol", 8, ("BKNG", "ZM")), arguments, "%m/%d/%Y"
    if name == "physionet":
        # 50 patients: the first 10 never observe TroponinT, and an all-missing column is (rightly) refused.
        frame = pd.read_csv(shared_file("physionet2012/physionet2012_seta_hourly.csv.gz"), nrows=50 * 48)
        arguments = {
            "time_column": "hour",
            "entity_column": "RecordID",
            "static_columns": ["Age", "Gender", "Height", "ICUType", "Weight_admit"],
            "sequence_length": 48,
        }
        return frame, arguments, None
    raise KeyError(name)


REAL_CASES = [
    "metro",
    "beijing_pm25",
    "hurricane",
    "airquality",
    "etth1",
    "stocks_google",
    "bike_sharing",
    "nasdaq100",
    "physionet",
]


@cache
def fitted_case(name: str) -> tuple[TimeAutoDiffProcessor, pd.DataFrame, dict, str | None]:
    frame, arguments, time_format = load_case(name)
    arguments = {"sequence_length": 24, **arguments}
    return TimeAutoDiffProcessor(**arguments).fit(frame), frame, arguments, time_format


# ---------------------------------------------------------------------------------------------------- helpers
def hourly(periods: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=periods, freq="h")


def decode_batch(processor: TimeAutoDiffProcessor, batch: dict) -> pd.DataFrame:
    return processor.decode(
        batch["values"],
        observed_mask=batch["observed_mask"],
        timestamps=batch["timestamps"],
        entity_ids=batch["entity_ids"],
    )


def decoded_rows(processor: TimeAutoDiffProcessor, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Encode with windows tiling every row, decode, and map the decoded steps back to the input rows.

    Returns `(aligned, decoded)`: one decoded row per input row in input order, and the full decoded frame.
    """
    batch = processor.encode(frame, stride=processor.sequence_length, cover_all_rows=True)
    decoded = decode_batch(processor, batch)
    positions = batch["row_index"].reshape(-1)
    assert len(decoded) == len(positions)
    real = decoded[positions >= 0].assign(_row=positions[positions >= 0]).reset_index(drop=True)
    assert np.array_equal(np.unique(real["_row"]), np.arange(len(frame))), "some input rows are not covered"
    real = real.drop(columns=["sequence_id"], errors="ignore")
    first = real.drop_duplicates("_row", keep="first").sort_values("_row").reset_index(drop=True)
    last = real.drop_duplicates("_row", keep="last").sort_values("_row").reset_index(drop=True)
    # A row that falls in two overlapping windows must decode to the same values both times.
    pd.testing.assert_frame_equal(first, last)
    return first.drop(columns="_row"), decoded


def expected_dtype(original_dtype, has_missing: bool) -> str:
    name = str(original_dtype)
    return NULLABLE_DTYPES.get(name, name) if has_missing else name


def cells(series: pd.Series) -> list:
    """Python values with every missing marker (None, NaN, NA, NaT) as None, for exact comparisons."""
    values = series.astype(object).tolist()
    return [None if pd.isna(value) else (value.item() if isinstance(value, np.generic) else value) for value in values]


def assert_column_round_trip(
    name: str,
    decoded: pd.Series,
    original: pd.Series,
    column: dict,
    decoded_full: pd.Series,
    original_dtype=None,
) -> None:
    # A sentinel-masked int column is float after masking, but decodes to its own (nullable) integer dtype.
    dtype = original.dtype if original_dtype is None else original_dtype
    assert str(decoded_full.dtype) == expected_dtype(dtype, bool(decoded_full.isna().any())), name
    assert np.array_equal(decoded.isna().to_numpy(), original.isna().to_numpy()), f"{name}: NaN positions differ"
    if column["kind"] == "continuous":
        decoded_values = decoded.to_numpy(dtype=float, na_value=np.nan)
        original_values = original.to_numpy(dtype=float, na_value=np.nan)
        if column.get("decimals") is None:
            # Float rounding of the piecewise-linear inverse is relative to the column's scale, not to each value:
            # an exact 0.0 between two knots may come back as 3e-17.
            scale = max(abs(column["min"]), abs(column["max"]))
            np.testing.assert_allclose(decoded_values, original_values, rtol=1e-12, atol=1e-12 * scale, err_msg=name)
        else:
            np.testing.assert_array_equal(decoded_values, original_values, err_msg=name)
    else:
        assert cells(decoded) == cells(original), f"{name}: category values differ"
        assert {type(value) for value in cells(decoded)} == {type(value) for value in cells(original)}, name


def assert_round_trip(processor: TimeAutoDiffProcessor, frame: pd.DataFrame, time_format: str | None = None) -> None:
    aligned, decoded = decoded_rows(processor, frame)
    for column in processor.columns:
        name = column["name"]
        original = frame[name].reset_index(drop=True)
        if name in processor.missing_values:  # the oracle: sentinel cells are expected back as missing
            original = original.mask(original.isin(processor.missing_values[name]))
        assert_column_round_trip(name, aligned[name], original, column, decoded[name], frame[name].dtype)
    if processor.entity_column is not None:
        entity = processor.entity_column
        assert aligned[entity].tolist() == frame[entity].tolist()
        assert aligned[entity].dtype == frame[entity].dtype
    if processor.time_column is not None:
        time = frame[processor.time_column].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(time.dtype):
            assert aligned[processor.time_column].dtype == time.dtype
            assert aligned[processor.time_column].tolist() == time.tolist()
        else:
            expected = pd.to_datetime(time, format=time_format) if time.dtype.kind not in "mM" else time
            assert pd.api.types.is_datetime64_any_dtype(aligned[processor.time_column].dtype)
            assert (
                pd.DatetimeIndex(aligned[processor.time_column])
                .as_unit("ns")
                .equals(pd.DatetimeIndex(expected).as_unit("ns"))
            )
    else:
        assert "sequence_id" in decoded.columns
    feature_order = [name for name in frame.columns if name in processor.column_names]
    assert [name for name in decoded.columns if name in processor.column_names] == feature_order


# ---------------------------------------------------------------------------------------------------- 1. real data
@pytest.mark.parametrize("name", REAL_CASES)
def test_when_a_real_table_is_encoded_and_decoded_then_every_cell_dtype_and_timestamp_is_restored(name):
    processor, frame, _, time_format = fitted_case(name)
    assert_round_trip(processor, frame, time_format)


@pytest.mark.parametrize(
    ("name", "column"), [("airquality", "NMHC(GT)"), ("airquality", "CO(GT)"), ("beijing_pm25", "pm2.5")]
)
def test_when_sentinels_or_nan_mark_missing_cells_then_the_observed_mask_is_zero_exactly_there(name, column):
    processor, frame, _, _ = fitted_case(name)
    raw = frame[column]
    is_missing = (raw == -200) | raw.isna()
    assert is_missing.any(), "the slice should contain missing cells"
    cell_values, cell_mask = processor.encode_cells(frame)
    index = processor.column_names.index(column)
    assert np.array_equal(cell_mask[:, index] == 0, is_missing.to_numpy())
    assert np.all(cell_values[is_missing.to_numpy(), index] == 0.0)
    fitted = processor.columns[index]
    assert fitted["min"] > -200, "the -200 sentinel must not be learnt as data"
    assert fitted["missing_rate"] == pytest.approx(is_missing.mean())


def test_when_metro_holiday_holds_the_literal_none_then_it_is_a_category_not_a_missing_cell():
    processor, frame, _, _ = fitted_case("metro")
    holiday = processor.columns[processor.column_names.index("holiday")]
    assert holiday["kind"] == "categorical" and "None" in holiday["categories"]
    assert holiday["categories"] == sorted(frame["holiday"].unique().tolist())
    aligned, _ = decoded_rows(processor, frame)
    assert (
        aligned["holiday"].notna().all() and (aligned["holiday"] == "None").sum() == (frame["holiday"] == "None").sum()
    )


def test_when_a_string_sentinel_is_declared_then_its_cells_are_missing_and_not_in_the_vocabulary():
    frame = pd.DataFrame({"holiday": ["None", "Xmas", "None", "NY"] * 3, "x": [-200, 1, 2, 3] * 3})
    processor = TimeAutoDiffProcessor(sequence_length=4, missing_values={"holiday": "None", "x": [-200]}).fit(frame)
    assert processor.columns[0]["categories"] == ["NY", "Xmas"]
    assert processor.columns[1]["min"] == 1
    batch = processor.encode(frame, stride=4)
    assert batch["observed_mask"][..., 0].reshape(-1).tolist() == [0.0, 1.0, 0.0, 1.0] * 3
    assert batch["observed_mask"][..., 1].reshape(-1).tolist() == [0.0, 1.0, 1.0, 1.0] * 3
    decoded = decode_batch(processor, batch)
    assert cells(decoded["holiday"]) == [None, "Xmas", None, "NY"] * 3
    assert cells(decoded["x"]) == [None, 1.0, 2.0, 3.0] * 3


def test_when_the_table_has_a_shuffled_index_then_rows_are_addressed_by_position():
    frame = pd.DataFrame(
        {"t": hourly(8), "x": [1, -200, 3, 4, -200, 6, 7, 8], "s": list("abcdabcd")}, index=[5, 3, 9, 1, 0, 2, 7, 4]
    )
    processor = TimeAutoDiffProcessor(time_column="t", sequence_length=4, missing_values={"x": -200}).fit(frame)
    batch = processor.encode(frame, stride=4)
    assert batch["row_index"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert_round_trip(processor, frame)


@pytest.mark.parametrize(
    "entities",
    [[7] * 6 + [3] * 6, pd.Categorical(["b"] * 6 + ["a"] * 6), ["p"] * 6 + ["q"] * 6],
    ids=["int", "category", "str"],
)
def test_when_entity_ids_are_ints_categories_or_strings_then_decode_restores_them_with_their_dtype(entities):
    frame = pd.DataFrame({"t": list(range(6)) * 2, "e": entities, "x": np.arange(12.0)})
    processor = TimeAutoDiffProcessor(time_column="t", entity_column="e", sequence_length=3).fit(frame)
    assert processor.frequency == 1
    assert_round_trip(processor, frame)


def test_when_column_names_are_integers_then_decode_returns_every_column():
    frame = pd.DataFrame(np.round(np.random.default_rng(0).random((12, 3)), 3))
    processor = TimeAutoDiffProcessor(sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4)
    decoded = processor.decode(batch["values"], observed_mask=batch["observed_mask"])
    assert decoded.columns.tolist() == ["sequence_id", 0, 1, 2]
    pd.testing.assert_frame_equal(decoded[[0, 1, 2]], frame, check_column_type=False)


def test_when_bike_sharing_is_fitted_with_its_schema_then_roles_and_kinds_follow_the_declared_schema():
    processor, frame, _, _ = fitted_case("bike_sharing")
    roles = {column["name"]: column["role"] for column in processor.columns}
    assert {name for name, role in roles.items() if role == "metadata"} == set(BIKE_SHARING_SCHEMA["metadata_columns"])
    kinds = dict(zip(processor.column_names, processor.column_kinds_fitted))
    assert kinds["hr"] == "categorical"
    assert processor.columns[processor.column_names.index("hr")]["categories"] == list(range(24))
    assert kinds["holiday"] == kinds["workingday"] == "binary"
    assert kinds["temp"] == kinds["cnt"] == "continuous"
    assert processor.metadata_indices == [
        processor.column_names.index(name)
        for name in processor.column_names
        if name in BIKE_SHARING_SCHEMA["metadata_columns"]
    ]


def test_when_a_csv_path_is_given_then_fit_and_encode_match_the_dataframe():
    path = FIXTURES / "processor_two_stations.csv"
    frame = pd.read_csv(path)
    from_path = TimeAutoDiffProcessor(time_column="time", entity_column="station", sequence_length=4).fit(str(path))
    from_frame = TimeAutoDiffProcessor(time_column="time", entity_column="station", sequence_length=4).fit(frame)
    assert from_path.to_dict() == from_frame.to_dict()
    batch_path, batch_frame = from_path.encode(path), from_frame.encode(frame)
    for key in ("values", "observed_mask", "time_features", "timestamps", "row_index"):
        assert np.array_equal(batch_path[key], batch_frame[key]), key
    assert_round_trip(from_frame, frame, "%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------------- 2. dtypes
DTYPE_CASES = {
    "float64": pd.Series([0.5, 1.25, 2.0, 3.75, 5.5, 7.125, 8.0, 9.5, 10.25, 11.0, 12.5, 13.0]),
    "float64_with_nan": pd.Series([0.5, np.nan, 2.0, 3.75, np.nan, 7.125, 8.0, 9.5, 10.25, 11.0, 12.5, 13.0]),
    "float_many_decimals": pd.Series(np.linspace(0.1, 7.3, 12) / 3.0),
    "float32": pd.Series(np.linspace(0.5, 6.0, 12).astype("float32")),
    "int64": pd.Series(np.arange(12, dtype="int64") * 7 - 20),
    "int8": pd.Series(np.arange(12, dtype="int8")),
    "uint16": pd.Series(np.arange(12, dtype="uint16") * 100),
    "bool": pd.Series([True, False, True] * 4),
    "str": pd.Series(["x", "y", "z"] * 4),
    "str_with_missing": pd.Series(["a", None, "b", "c"] * 3),
    "object_strings": pd.Series(["x", "y", "z"] * 4, dtype=object),
    "object_strings_with_none": pd.Series(["a", None, "b", "c"] * 3, dtype=object),
    "category": pd.Series(pd.Categorical(["hi", "lo", "mid"] * 4)),
    "Int64_with_na": pd.Series([1, 2, pd.NA, 40, 5, 6, 7, pd.NA, 9, 10, 11, 12], dtype="Int64"),
    "Int64_categorical_with_na": pd.Series([1, 2, pd.NA, 3] * 3, dtype="Int64"),
    "boolean_with_na": pd.Series([True, pd.NA, False] * 4, dtype="boolean"),
    "string_dtype": pd.Series(["p", "q", pd.NA, "r"] * 3, dtype="string"),
}


@pytest.mark.parametrize("case", list(DTYPE_CASES))
def test_when_a_column_of_a_supported_dtype_round_trips_then_values_and_dtype_are_identical(case):
    series = DTYPE_CASES[case]
    frame = pd.DataFrame({"time": hourly(len(series)), "column": series})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    aligned, decoded = decoded_rows(processor, frame)
    assert len(decoded) == len(frame), "12 rows in windows of 4: no padding expected"
    exact = processor.columns[0].get("decimals", 0) is not None
    assert exact == (case != "float_many_decimals")
    pd.testing.assert_series_equal(aligned["column"], series, check_names=False, check_exact=exact, rtol=1e-12)
    assert aligned["column"].dtype == series.dtype
    if exact:
        assert cells(aligned["column"]) == cells(series)


def test_when_an_int_column_is_decoded_with_missing_cells_then_it_becomes_the_nullable_int_dtype():
    frame = pd.DataFrame({"time": hourly(12), "count": np.arange(12, dtype="int64") * 3, "flag": [True, False] * 6})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4)
    mask = batch["observed_mask"].copy()
    mask[0, 1, :] = 0
    decoded = processor.decode(batch["values"], observed_mask=mask, timestamps=batch["timestamps"])
    assert str(decoded["count"].dtype) == "Int64"
    assert str(decoded["flag"].dtype) == "boolean"
    assert decoded["count"].isna().tolist() == [False, True] + [False] * 10
    assert decoded["count"].dropna().tolist() == [0] + list(range(6, 36, 3))


def test_when_a_category_column_uses_sorted_categories_then_the_categorical_dtype_is_identical():
    series = pd.Series(pd.Categorical(["b", "a", None, "c"] * 3, categories=["a", "b", "c"]))
    frame = pd.DataFrame({"time": hourly(12), "level": series})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    aligned, _ = decoded_rows(processor, frame)
    pd.testing.assert_series_equal(aligned["level"], series, check_names=False)


def test_when_a_category_column_declares_its_own_category_order_then_decode_keeps_that_dtype():
    dtype = pd.CategoricalDtype(["low", "mid", "high", "extreme"], ordered=True)
    series = pd.Series(["low", "high", "mid"] * 4, dtype=dtype)
    frame = pd.DataFrame({"time": hourly(12), "level": series})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    aligned, _ = decoded_rows(processor, frame)
    assert aligned["level"].dtype == dtype


def test_when_the_time_column_has_microsecond_resolution_then_decode_keeps_its_datetime_unit():
    frame = pd.DataFrame({"time": hourly(8).as_unit("us"), "x": np.arange(8.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    aligned, _ = decoded_rows(processor, frame)
    assert aligned["time"].dtype == frame["time"].dtype


@st.composite
def mixed_frames(draw):
    num_rows = draw(st.integers(min_value=3, max_value=30))

    def column(elements, allow_missing=True):
        values = draw(
            st.lists(
                st.one_of(st.none(), elements) if allow_missing else elements, min_size=num_rows, max_size=num_rows
            ).filter(lambda items: any(item is not None for item in items))
        )
        return values

    numbers = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    frame = pd.DataFrame(
        {
            "time": hourly(num_rows),
            "real": pd.Series(column(numbers), dtype="float64"),
            "rounded": pd.Series([None if v is None else round(v, 2) for v in column(numbers)], dtype="float64"),
            "count": pd.Series(column(st.integers(-1000, 1000), allow_missing=False), dtype="int64"),
            "nullable": pd.Series(column(st.integers(0, 5)), dtype="Int64"),
            "label": pd.Series(column(st.sampled_from(["a", "b", "B", "zz", "é", "10", "9"])), dtype="str"),
        }
    )
    sequence_length = draw(st.integers(min_value=1, max_value=num_rows + 3))
    return frame, sequence_length


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mixed_frames())
def test_when_random_mixed_frames_with_nans_round_trip_then_decode_is_the_identity(case):
    frame, sequence_length = case
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=sequence_length).fit(frame)
    assert_round_trip(processor, frame)


# ---------------------------------------------------------------------------------------------------- 3. kinds
def test_when_kinds_are_inferred_then_the_documented_rules_decide_each_column():
    size = 20
    frame = pd.DataFrame(
        {
            "time": hourly(size),
            "flag": [True, False] * 10,
            "two_floats": [0.5, 2.5] * 10,
            "two_strings": ["yes", "no"] * 10,
            "label": ["red", "green", "blue", "red"] * 5,
            "single_label": ["only"] * size,
            "small_ints": [0, 1, 2, 3, 4] * 4,
            "rare_ints": list(range(5)) * 3 + [5, 6, 7, 8, 9],
            "many_ints": list(range(size)),
            "floats": np.linspace(0.1, 2.0, size),
            "category": pd.Categorical(["u", "v", "w", "u"] * 5),
            "nullable_bool": pd.array([True, None, False, True] * 5, dtype="boolean"),
            "ints_and_floats": pd.Series([1, 2.5, 3, 4.25] * 5, dtype=object),
        }
    )
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    assert dict(zip(processor.column_names, processor.column_kinds_fitted)) == {
        "flag": "binary",
        "two_floats": "binary",
        "two_strings": "binary",
        "label": "categorical",
        "single_label": "categorical",
        "small_ints": "categorical",
        "rare_ints": "continuous",  # 10 values each seen 2 times on average: fewer than 4
        "many_ints": "continuous",
        "floats": "continuous",
        "category": "categorical",
        "nullable_bool": "binary",
        "ints_and_floats": "continuous",
    }
    assert processor.category_sizes == [2, 2, 2, 3, 1, 5, 0, 0, 0, 3, 2, 0]


@pytest.mark.parametrize(("threshold", "kind"), [(25, "continuous"), (26, "categorical")])
def test_when_integer_cardinality_crosses_categorical_threshold_then_the_kind_switches(threshold, kind):
    frame = pd.DataFrame({"code": list(range(26)) * 4})
    processor = TimeAutoDiffProcessor(sequence_length=4, categorical_threshold=threshold).fit(frame)
    assert processor.column_kinds_fitted == [kind]


def test_when_column_kinds_are_given_then_they_override_inference():
    frame = pd.DataFrame(
        {
            "small_ints": [0, 1, 2, 3] * 5,
            "floats": [0.5, 1.5, 2.5, 3.5] * 5,
            "two_ints": [3, 7] * 10,
            "ids": [f"id{i:04d}" for i in range(20)],
        }
    )
    processor = TimeAutoDiffProcessor(
        sequence_length=4,
        max_categories=5,
        column_kinds={
            "small_ints": "continuous",
            "floats": "categorical",
            "two_ints": "categorical",
            "ids": "categorical",
        },
    ).fit(frame)
    assert processor.column_kinds_fitted == ["continuous", "categorical", "categorical", "categorical"]
    assert processor.columns[1]["categories"] == [0.5, 1.5, 2.5, 3.5]
    assert processor.columns[2]["categories"] == [3, 7]
    assert len(processor.columns[3]["categories"]) == 20
    assert_round_trip(processor, frame)


def test_when_vocabularies_are_built_then_they_are_sorted_by_value_type():
    frame = pd.DataFrame(
        {
            "words": ["b", "B", "a", "é", "10", "9"] * 4,
            "codes": [100, 2, 10, 2, 100, 10] * 4,
            "float_codes": [2.0, 10.0, np.nan, 2.0, 10.0, 100.0] * 4,
        }
    )
    processor = TimeAutoDiffProcessor(sequence_length=4).fit(frame)
    assert processor.columns[0]["categories"] == ["10", "9", "B", "a", "b", "é"]
    assert processor.columns[1]["categories"] == [2, 10, 100]
    assert processor.columns[2]["categories"] == [2, 10, 100]
    assert_round_trip(processor, frame)


@pytest.mark.parametrize(
    "name",
    [
        "metro",
        "bike_sharing",
        "hurricane",
        "nasdaq100",
    ],
)
def test_when_fitting_shuffled_copies_of_a_table_then_the_fitted_state_is_identical(name):
    _, frame, arguments, _ = fitted_case(name)
    first = TimeAutoDiffProcessor(**arguments).fit(frame.sample(frac=1.0, random_state=1))
    second = TimeAutoDiffProcessor(**arguments).fit(frame.sample(frac=1.0, random_state=2))
    assert first.columns == second.columns
    assert first.time_info == second.time_info
    for column in first.columns:
        if column["kind"] != "continuous":
            assert column["categories"] == sorted(column["categories"])


# ---------------------------------------------------------------------------------------------------- 4. JSON
@pytest.mark.parametrize("name", REAL_CASES)
def test_when_a_fitted_processor_is_saved_then_it_is_plain_json_and_reloads_to_identical_encodings(name, tmp_path):
    processor, frame, _, _ = fitted_case(name)
    processor.save_pretrained(str(tmp_path))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["preprocessor_config.json"]
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert [column["name"] for column in config["columns"]] == processor.column_names
    reloaded = TimeAutoDiffProcessor.from_pretrained(str(tmp_path))
    assert isinstance(reloaded, TimeAutoDiffProcessor)
    assert reloaded.columns == processor.columns and reloaded.time_info == processor.time_info
    original_batch = processor.encode(frame, stride=processor.sequence_length, cover_all_rows=True)
    reloaded_batch = reloaded.encode(frame, stride=processor.sequence_length, cover_all_rows=True)
    for key in ("values", "observed_mask", "time_features", "timestamps", "row_index"):
        assert np.array_equal(original_batch[key], reloaded_batch[key]), key
    pd.testing.assert_frame_equal(decode_batch(processor, original_batch), decode_batch(reloaded, reloaded_batch))


def test_when_a_processor_with_bools_categories_and_time_zone_is_reloaded_then_decode_is_identical(tmp_path):
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin"),
            "flag": pd.array([True, None, False] * 16, dtype="boolean"),
            "level": pd.Categorical(["b", "a", "c", "a"] * 12),
            "load": np.round(np.linspace(-3.0, 9.0, 48), 3),
        }
    )
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=6, handle_unknown="missing").fit(frame)
    processor.save_pretrained(str(tmp_path))
    reloaded = TimeAutoDiffProcessor.from_pretrained(str(tmp_path))
    assert reloaded.handle_unknown == "missing" and reloaded.sequence_length == 6
    assert reloaded.to_dict() == processor.to_dict()
    assert_round_trip(reloaded, frame)


# ---------------------------------------------------------------------------------------------------- 5. windows
def assert_windows_follow_the_grid(processor, frame, batch, step) -> None:
    entity_values = None if processor.entity_column is None else frame[processor.entity_column].to_numpy()
    timestamps = batch["timestamps"]
    for window, rows in enumerate(batch["row_index"]):
        if entity_values is not None:
            assert set(entity_values[rows[rows >= 0]]) == {batch["entity_ids"][window]}
        steps = np.diff(timestamps[window])
        assert np.all(steps > np.zeros_like(steps)), "time must increase strictly inside a window"
        if step is not None:
            for previous, current in zip(timestamps[window][:-1], timestamps[window][1:]):
                assert pd.Timestamp(previous) + step == pd.Timestamp(current)


@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("hurricane", pd.offsets.MonthBegin(1)),
        ("nasdaq100", pd.offsets.BDay(1)),
        ("metro", pd.Timedelta(hours=1)),
        ("physionet", None),
    ],
)
def test_when_real_tables_are_windowed_then_windows_stay_in_one_entity_and_on_the_time_grid(name, step):
    processor, frame, _, _ = fitted_case(name)
    batch = processor.encode(frame, stride=3)
    assert_windows_follow_the_grid(processor, frame, batch, step)
    if name == "physionet":
        assert batch["values"].shape == (50, 48, 42)
        assert np.array_equal(batch["timestamps"], np.tile(np.arange(48.0), (50, 1)))


def test_when_nasdaq_has_market_holidays_then_they_are_bridged_with_padding_steps():
    processor, frame, _, _ = fitted_case("nasdaq100")
    batch = processor.encode(frame, stride=1)
    padding = batch["row_index"] == -1
    assert padding.any()
    holidays = {pd.Timestamp(value) for value in batch["timestamps"][padding]}
    # The 2019 NYSE weekday holidays (ZM trades until 2019-12-30, the others until 2019-09-12): one absent day each.
    expected = ["2019-01-01", "2019-01-21", "2019-02-18", "2019-04-19", "2019-05-27", "2019-07-04", "2019-09-02"]
    expected += ["2019-11-28", "2019-12-25"]
    assert holidays == set(pd.to_datetime(expected))
    assert np.all(batch["observed_mask"][padding] == 0) and np.all(batch["values"][padding] == 0)


def test_when_one_step_is_absent_then_it_is_bridged_by_a_padding_step_with_its_timestamp():
    times = hourly(10).delete(4)
    frame = pd.DataFrame({"time": times, "x": np.arange(9.0) + 0.5})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    batch = processor.encode(frame)
    assert batch["row_index"].tolist() == [
        [0, 1, 2, 3],
        [1, 2, 3, -1],
        [2, 3, -1, 4],
        [3, -1, 4, 5],
        [-1, 4, 5, 6],
        [4, 5, 6, 7],
        [5, 6, 7, 8],
    ]
    padding = batch["row_index"] == -1
    assert {pd.Timestamp(value) for value in batch["timestamps"][padding]} == {pd.Timestamp("2024-01-01 04:00")}
    assert np.array_equal(batch["observed_mask"][..., 0], (~padding).astype(float))
    assert_windows_follow_the_grid(processor, frame, batch, pd.Timedelta(hours=1))


@pytest.mark.parametrize(("max_gap", "bridged"), [(3, False), (4, True)])
def test_when_a_gap_is_longer_than_max_gap_then_no_window_crosses_it(max_gap, bridged):
    times = hourly(20).delete([8, 9, 10, 11])  # four absent hours
    frame = pd.DataFrame({"time": times, "x": np.arange(16.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=6, max_gap=max_gap).fit(frame)
    batch = processor.encode(frame)
    crosses = [bool(((rows <= 7) & (rows >= 0)).any() and (rows >= 8).any()) for rows in batch["row_index"]]
    assert any(crosses) == bridged
    if bridged:
        assert batch["report"]["num_windows"] == 15
        padding = batch["row_index"] == -1
        assert {pd.Timestamp(value) for value in batch["timestamps"][padding]} == set(hourly(20)[8:12])
    else:
        assert batch["row_index"].tolist() == [[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7]] + [
            [8, 9, 10, 11, 12, 13],
            [9, 10, 11, 12, 13, 14],
            [10, 11, 12, 13, 14, 15],
        ]
    assert_windows_follow_the_grid(processor, frame, batch, pd.Timedelta(hours=1))


def test_when_a_bridged_gap_is_longer_than_a_window_then_every_window_lies_on_the_grid_of_the_gap():
    times = hourly(12).delete([4, 5, 6, 7])  # four absent hours, bridged because max_gap=4
    frame = pd.DataFrame({"time": times, "x": np.arange(8.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=3, max_gap=4).fit(frame)
    batch = processor.encode(frame)
    for window_times in batch["timestamps"]:
        start = pd.Timestamp(window_times[0])
        assert pd.DatetimeIndex(window_times).equals(pd.date_range(start, periods=3, freq="h"))
        assert hourly(12)[0] <= start <= hourly(12)[-3]


def test_when_the_fixture_csv_has_a_short_and_a_long_gap_then_windows_are_cut_exactly_around_them():
    frame = pd.read_csv(FIXTURES / "processor_two_stations.csv")
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="station", sequence_length=4).fit(frame)
    batch = processor.encode(frame)
    # Station A: 20 rows + 1 bridged hour = 21 steps -> 18 windows; station B: two runs of 8 rows -> 5 + 5.
    assert batch["entity_ids"] == ["A"] * 18 + ["B"] * 10
    assert_windows_follow_the_grid(processor, frame, batch, pd.Timedelta(hours=1))
    padding = batch["row_index"] == -1
    assert {pd.Timestamp(value) for value in batch["timestamps"][padding]} == {pd.Timestamp("2024-01-01 10:00")}
    assert processor.column_kinds_fitted == ["continuous", "categorical", "binary", "continuous"]


def window_key_table(batch: dict, original_rows: np.ndarray) -> list:
    keys = []
    for window in range(len(batch["row_index"])):
        rows = batch["row_index"][window]
        keys.append(
            (
                str(batch["entity_ids"][window]),
                str(batch["timestamps"][window][0]),
                tuple(np.where(rows >= 0, original_rows[np.maximum(rows, 0)], -1).tolist()),
            )
        )
    return keys


@pytest.mark.parametrize("name", ["hurricane", "beijing_pm25", "physionet"])
def test_when_rows_are_shuffled_then_the_same_windows_are_cut(name):
    processor, frame, _, _ = fitted_case(name)
    permutation = np.random.default_rng(0).permutation(len(frame))
    shuffled = frame.iloc[permutation].reset_index(drop=True)
    sorted_batch = processor.encode(frame, stride=5)
    shuffled_batch = processor.encode(shuffled, stride=5)
    sorted_keys = window_key_table(sorted_batch, np.arange(len(frame)))
    shuffled_keys = window_key_table(shuffled_batch, permutation)
    assert sorted(sorted_keys) == sorted(shuffled_keys)
    order_sorted = sorted(range(len(sorted_keys)), key=sorted_keys.__getitem__)
    order_shuffled = sorted(range(len(shuffled_keys)), key=shuffled_keys.__getitem__)
    for key in ("values", "observed_mask", "time_features", "timestamps"):
        assert np.array_equal(sorted_batch[key][order_sorted], shuffled_batch[key][order_shuffled]), key


def test_when_entities_interleave_then_each_window_holds_one_entity_in_time_order():
    times = hourly(10)
    frame = pd.DataFrame(
        {
            "time": np.concatenate([times, times, times]),
            "unit": ["u1"] * 10 + ["u2"] * 10 + ["u3"] * 10,
            "x": np.arange(30.0),
        }
    ).sample(frac=1.0, random_state=3)
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="unit", sequence_length=5).fit(frame)
    batch = processor.encode(frame, stride=5)
    decoded = decode_batch(processor, batch)
    assert sorted(batch["entity_ids"]) == ["u1", "u1", "u2", "u2", "u3", "u3"]
    for window, entity in enumerate(batch["entity_ids"]):
        values = decoded["x"].to_numpy()[window * 5 : window * 5 + 5]
        offset = {"u1": 0, "u2": 10, "u3": 20}[entity]
        assert values.tolist() in ([offset + i for i in range(5)], [offset + 5 + i for i in range(5)])
    assert_windows_follow_the_grid(processor, frame.reset_index(drop=True), batch, pd.Timedelta(hours=1))


# ---------------------------------------------------------------------------------------------------- 6. time
@pytest.mark.parametrize(
    ("name", "frequency", "features"),
    [
        ("metro", "h", HOURLY_FEATURES),
        ("beijing_pm25", "h", HOURLY_FEATURES),
        ("hurricane", "MS", MONTHLY_FEATURES),
        ("airquality", "h", HOURLY_FEATURES),
        ("etth1", "h", HOURLY_FEATURES),
        ("stocks_google", 1, ["position"]),
        ("bike_sharing", "h", HOURLY_FEATURES),
        ("nasdaq100", "B", DAILY_FEATURES),
        ("physionet", 1, ["position"]),
    ],
)
def test_when_real_tables_are_fitted_then_frequency_and_time_feature_names_are_inferred(name, frequency, features):
    processor, frame, _, _ = fitted_case(name)
    assert processor.frequency == frequency
    assert processor.time_feature_names == features
    batch = processor.encode(frame, stride=processor.sequence_length, cover_all_rows=True)
    time_features = batch["time_features"]
    assert time_features.shape == (*batch["row_index"].shape, len(features))
    assert np.all(time_features >= -1.0) and np.all(time_features <= 1.0)
    assert np.allclose(time_features[..., -1], np.linspace(-1.0, 1.0, processor.sequence_length))


def test_when_a_daily_table_is_fitted_then_the_frequency_is_daily():
    frame = pd.read_csv(shared_file("bike_sharing/day.csv"), nrows=400)
    processor = TimeAutoDiffProcessor(time_column="dteday", entity_column=None, sequence_length=7).fit(frame)
    assert processor.frequency == "D"
    assert processor.time_feature_names == DAILY_FEATURES
    following = pd.DatetimeIndex(processor.next_timestamps(pd.Timestamp("2012-02-28"), 2))
    assert following.equals(pd.DatetimeIndex(["2012-02-29", "2012-03-01"]))
    assert_round_trip(processor, frame, "%Y-%m-%d")


def test_when_hourly_time_features_are_computed_then_they_match_the_calendar_formulas():
    times = pd.date_range("2023-12-31 20:00", periods=30, freq="h")
    frame = pd.DataFrame({"time": times, "x": np.arange(30.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=30).fit(frame)
    features = processor.encode(frame)["time_features"][0]
    index = pd.DatetimeIndex(times)
    hour_angle = 2 * np.pi * index.hour.to_numpy() / 24.0
    week_angle = 2 * np.pi * index.day_of_week.to_numpy() / 7.0
    year_angle = 2 * np.pi * (index.day_of_year.to_numpy() - 1) / 365.25
    expected = np.stack(
        [
            np.sin(hour_angle),
            np.cos(hour_angle),
            np.sin(week_angle),
            np.cos(week_angle),
            np.sin(year_angle),
            np.cos(year_angle),
            np.linspace(-1.0, 1.0, 30),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("time_kind", ["datetime", "timezone", "numeric"])
def test_when_elapsed_time_is_on_then_the_last_feature_runs_from_minus_one_to_one_over_the_span(time_kind, tmp_path):
    times = {
        "datetime": pd.date_range("2024-01-01", periods=41, freq="h"),
        "timezone": pd.date_range("2024-03-30", periods=41, freq="h", tz="Europe/Berlin"),
        "numeric": np.arange(41.0) * 0.5,
    }[time_kind]
    frame = pd.DataFrame({"time": times, "x": np.arange(41.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=8, elapsed_time=True).fit(frame)
    assert processor.time_feature_names[-2:] == ["position", "elapsed"]
    batch = processor.encode(frame)
    elapsed = batch["time_features"][..., -1]
    np.testing.assert_allclose(elapsed.reshape(-1)[:8], np.linspace(-1.0, 1.0, 41)[:8], atol=1e-12)
    assert elapsed[-1, -1] == 1.0 and elapsed[0, 0] == -1.0
    # Windows beyond the span (forecasts) see the value of its end; the option survives a save and reload.
    later = processor.next_timestamps(batch["timestamps"][-1, -1], 8)[None]
    assert np.all(processor.time_features(later)[..., -1] == 1.0)
    processor.save_pretrained(tmp_path)
    reloaded = TimeAutoDiffProcessor.from_pretrained(tmp_path)
    assert reloaded.elapsed_time is True
    np.testing.assert_array_equal(reloaded.encode(frame)["time_features"], batch["time_features"])


def test_when_elapsed_time_is_off_then_time_features_have_no_elapsed_column():
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=20, freq="D"), "x": np.arange(20.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    assert "elapsed" not in processor.time_feature_names
    assert processor.encode(frame)["time_features"].shape[-1] == len(processor.time_feature_names)


@pytest.mark.parametrize(
    ("freq", "last", "expected"),
    [
        ("h", "2024-01-31 23:00", ["2024-02-01 00:00", "2024-02-01 01:00", "2024-02-01 02:00"]),
        ("D", "2024-02-28", ["2024-02-29", "2024-03-01", "2024-03-02"]),
        ("MS", "2024-11-01", ["2024-12-01", "2025-01-01", "2025-02-01"]),
        ("B", "2024-01-05", ["2024-01-08", "2024-01-09", "2024-01-10"]),
    ],
)
def test_when_next_timestamps_are_asked_then_they_continue_the_fitted_grid(freq, last, expected):
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=40, freq=freq), "x": np.arange(40.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    assert processor.frequency == freq
    following = processor.next_timestamps(pd.Timestamp(last), 3)
    assert pd.DatetimeIndex(following).equals(pd.DatetimeIndex(pd.to_datetime(expected)))


def test_when_the_time_column_is_numeric_then_steps_continue_and_padding_follows_the_step():
    frame = pd.DataFrame({"t": [0.0, 0.5, 1.0, 2.0, 2.5, 3.0], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]})
    processor = TimeAutoDiffProcessor(time_column="t", sequence_length=4).fit(frame)
    assert processor.frequency == 0.5
    assert processor.next_timestamps(3.0, 2).tolist() == [3.5, 4.0]
    batch = processor.encode(frame, stride=4, cover_all_rows=True)
    assert batch["timestamps"].tolist() == [[0.0, 0.5, 1.0, 1.5], [1.5, 2.0, 2.5, 3.0]]
    assert batch["row_index"].tolist() == [[0, 1, 2, -1], [-1, 3, 4, 5]]
    assert_round_trip(processor, frame)


def test_when_timestamps_are_timezone_aware_then_decode_returns_the_same_aware_timestamps():
    # 2024-03-31: Berlin switches to summer time (02:00 -> 03:00), so local hours repeat no value and skip one.
    times = pd.date_range("2024-03-30 12:00", periods=48, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": times, "x": np.arange(48.0) / 4})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=12).fit(frame)
    assert processor.frequency == "h" and processor.time_info["timezone"] == "Europe/Berlin"
    batch = processor.encode(frame, stride=12)
    assert batch["report"]["num_windows"] == 4 and not (batch["row_index"] < 0).any()
    decoded = decode_batch(processor, batch)
    assert decoded["time"].dtype == frame["time"].dtype
    assert decoded["time"].tolist() == times.tolist()
    hour_angle = 2 * np.pi * times.hour.to_numpy() / 24.0
    np.testing.assert_allclose(batch["time_features"][..., 0].reshape(-1), np.sin(hour_angle), atol=1e-12)
    last = processor.to_internal_time(times[-1])
    following = pd.DatetimeIndex(processor.next_timestamps(last, 2)).tz_localize("UTC").tz_convert("Europe/Berlin")
    assert following.tolist() == pd.date_range(times[-1], periods=3, freq="h")[1:].tolist()


@pytest.mark.parametrize(("freq", "periods"), [("D", 61), ("MS", 24), ("B", 60)])
def test_when_timezone_aware_daily_data_crosses_dst_then_frequency_and_windows_match_naive_data(freq, periods):
    naive = pd.DataFrame({"time": pd.date_range("2024-03-01", periods=periods, freq=freq), "x": np.arange(periods)})
    aware = naive.assign(time=naive["time"].dt.tz_localize("Europe/Berlin"))
    naive_processor = TimeAutoDiffProcessor(time_column="time", sequence_length=7).fit(naive)
    aware_processor = TimeAutoDiffProcessor(time_column="time", sequence_length=7).fit(aware)
    assert aware_processor.frequency == naive_processor.frequency == freq
    assert np.array_equal(aware_processor.encode(aware)["row_index"], naive_processor.encode(naive)["row_index"])


@pytest.mark.parametrize("time_kind", ["datetime", "numeric"])
def test_when_entities_cover_different_periods_then_the_fitted_time_range_spans_all_of_them(time_kind):
    late, early = hourly(10, start="2024-02-01"), hourly(10, start="2024-01-01")
    if time_kind == "numeric":
        late, early = np.arange(100, 110), np.arange(0, 10)
    frame = pd.DataFrame(
        {"time": np.concatenate([late, early]), "unit": ["late"] * 10 + ["early"] * 10, "x": np.arange(20.0)}
    )
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="unit", sequence_length=4).fit(frame)
    if time_kind == "numeric":
        assert (processor.time_info["start"], processor.time_info["end"]) == (0.0, 109.0)
    else:
        assert processor.time_info["start"] == "2024-01-01T00:00:00"
        assert processor.time_info["end"] == "2024-02-01T09:00:00"


# ---------------------------------------------------------------------------------------------------- 7. split
def assert_partition(frame: pd.DataFrame, train: pd.DataFrame, validation: pd.DataFrame) -> None:
    assert len(train) + len(validation) == len(frame)
    assert train.index.intersection(validation.index).empty
    assert train.index.union(validation.index).sort_values().equals(frame.index.sort_values())
    pd.testing.assert_frame_equal(pd.concat([train, validation]).sort_index(), frame.sort_index())


def test_when_splitting_by_time_then_each_entity_holds_out_its_final_period():
    processor, frame, _, _ = fitted_case("hurricane")
    shuffled = frame.sample(frac=1.0, random_state=4)
    train, validation = processor.split(shuffled, 0.2, by="time")
    assert_partition(shuffled, train, validation)
    assert validation.groupby("region").size().to_dict() == {region: 41 for region in frame["region"].unique()}
    train_time = pd.to_datetime(train["date"], format="%m/%d/%Y %H:%M")
    validation_time = pd.to_datetime(validation["date"], format="%m/%d/%Y %H:%M")
    for region in frame["region"].unique():
        assert validation_time[validation["region"] == region].min() > train_time[train["region"] == region].max()


def test_when_splitting_by_entity_then_whole_entities_are_held_out():
    processor, frame, _, _ = fitted_case("nasdaq100")
    train, validation = processor.split(frame, 0.2, by="entity")
    assert_partition(frame, train, validation)
    held_out = sorted(frame["Symbol"].unique().tolist())[-2:]
    assert sorted(validation["Symbol"].unique()) == held_out
    assert not train["Symbol"].isin(held_out).any()


def test_when_splitting_with_three_blocks_then_three_interleaved_tail_blocks_are_held_out():
    processor, frame, _, _ = fitted_case("beijing_pm25")
    train, validation = processor.split(frame, 0.2, by="time", num_blocks=3)
    assert_partition(frame, train, validation)
    expected = np.concatenate([np.arange(800, 1000), np.arange(1800, 2000), np.arange(2800, 3000)])
    assert np.array_equal(validation.index.to_numpy(), expected)


def test_when_splitting_an_unfitted_processor_by_time_then_it_still_orders_by_time():
    frame = pd.DataFrame({"time": hourly(10)[::-1], "x": np.arange(10.0)})
    train, validation = TimeAutoDiffProcessor(time_column="time").split(frame, 0.3)
    assert validation["time"].sort_values().tolist() == hourly(10)[-3:].tolist()
    assert_partition(frame, train, validation)


# ---------------------------------------------------------------------------------------------------- 8. features
def test_when_windows_become_features_then_one_hot_slices_match_the_layout():
    processor, frame, _, _ = fitted_case("bike_sharing")
    batch = processor.encode(frame, stride=24)
    features = processor.to_features(batch["values"], batch["observed_mask"])
    layout = processor.feature_layout()
    assert [entry["name"] for entry in layout] == processor.column_names
    assert [entry["start"] for entry in layout[1:]] == [entry["stop"] for entry in layout[:-1]]
    widths = [entry["stop"] - entry["start"] for entry in layout]
    expected_widths = [
        size if kind == "categorical" else 1
        for size, kind in zip(processor.category_sizes, processor.column_kinds_fitted)
    ]
    assert widths == expected_widths
    assert features.shape == (*batch["values"].shape[:2], sum(widths)) and features.dtype == np.float32
    assert (batch["observed_mask"] == 0).any(), "bridged absent hours give missing steps"
    for index, entry in enumerate(layout):
        block = features[..., entry["start"] : entry["stop"]]
        observed = batch["observed_mask"][..., index] == 1
        assert np.all(np.isnan(block[~observed])) and not np.isnan(block[observed]).any()
        if entry["kind"] == "categorical":
            assert np.all(block[observed].sum(axis=-1) == 1.0)
            assert np.array_equal(block[observed].argmax(axis=-1), batch["values"][..., index][observed].astype(int))
        else:
            assert np.array_equal(block[observed][:, 0], batch["values"][..., index][observed].astype(np.float32))


def test_when_cells_are_missing_then_their_feature_slice_is_nan():
    frame = pd.DataFrame(
        {
            "level": ["a", None, "b", "c", "a", "b", "c", None],
            "flag": [True, False, None, True, False, True, False, True],
            "value": [1.5, 2.5, np.nan, 0.25, 3.0, 4.5, 5.0, 6.25],
        }
    )
    processor = TimeAutoDiffProcessor(sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4)
    features = processor.to_features(batch["values"], batch["observed_mask"]).reshape(8, -1)
    assert processor.column_kinds_fitted == ["categorical", "binary", "continuous"]
    assert [entry["stop"] - entry["start"] for entry in processor.feature_layout()] == [3, 1, 1]
    nan = np.nan
    expected_level_and_flag = np.array(
        [
            [1, 0, 0, 1],
            [nan, nan, nan, 0],
            [0, 1, 0, nan],
            [0, 0, 1, 1],
            [1, 0, 0, 0],
            [0, 1, 0, 1],
            [0, 0, 1, 0],
            [nan, nan, nan, 1],
        ]
    )
    np.testing.assert_array_equal(features[:, :4], expected_level_and_flag)
    assert np.isnan(features[:, 4]).tolist() == [False, False, True, False, False, False, False, False]
    assert np.all(np.isfinite(processor.to_features(batch["values"])))


# ---------------------------------------------------------------------------------------------------- 9. errors
BASE = pd.DataFrame({"time": hourly(12), "x": np.arange(12) * 0.25, "s": ["a", "b", "c"] * 4})


def fit_base(**arguments):
    return TimeAutoDiffProcessor(time_column="time", sequence_length=4, **arguments).fit(BASE)


FIT_ERRORS = {
    "empty table": (lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.iloc[:0]), "table is empty"),
    "unknown metadata column": (lambda: fit_base(metadata_columns=["wind"]), r"`metadata_columns`.*'wind'"),
    "unknown static column": (lambda: fit_base(static_columns=["wind"]), r"`static_columns`.*'wind'"),
    "unknown time column": (
        lambda: TimeAutoDiffProcessor(time_column="when").fit(BASE),
        r"`time_column`.*'when'",
    ),
    "unknown column kind column": (
        lambda: fit_base(column_kinds={"wind": "continuous"}),
        r"`column_kinds`.*'wind'",
    ),
    "unknown missing_values column": (lambda: fit_base(missing_values={"wind": -200}), r"`missing_values`.*'wind'"),
    "all-NaN column": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(empty=np.nan)),
        r"'empty' is entirely missing",
    ),
    "mixed-type object column": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(
            BASE.assign(mixed=pd.Series([1, "a", 2.5, "b"] * 3, dtype=object))
        ),
        r"'mixed' mixes value types",
    ),
    "positive infinity": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(x=[np.inf] + [1.0] * 11)),
        r"'x' has 1 infinite",
    ),
    "negative infinity": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(x=list(np.arange(11.0)) + [-np.inf])),
        r"'x' has 1 infinite",
    ),
    "unparseable timestamps": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(time=["not a date"] * 12)),
        r"Time column 'time' could not be parsed",
    ),
    "one unparseable timestamp": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(
            BASE.assign(time=[f"2024-01-01 {hour:02d}:00" for hour in range(11)] + ["soon"])
        ),
        r"Time column 'time' could not be parsed",
    ),
    "mixed time zone offsets": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(
            BASE.assign(time=[f"2024-01-01 {hour:02d}:00{'+01:00' if hour % 2 else '+02:00'}" for hour in range(12)])
        ),
        r"Time column 'time' mixes time zones",
    ),
    "mixed time zone objects": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(
            BASE.assign(
                time=pd.Series(
                    [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in range(6)]
                    + [pd.Timestamp("2024-01-02", tz="Europe/Berlin") + pd.Timedelta(hours=h) for h in range(6)],
                    dtype=object,
                )
            )
        ),
        r"Time column 'time'",
    ),
    "missing timestamp": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(time=list(hourly(11)) + [pd.NaT])),
        r"Time column 'time' has 1 missing",
    ),
    "duplicate timestamps": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(time=list(hourly(11)) + [hourly(1)[0]])),
        r"'time' has 1 duplicate timestamps.*drop_duplicates\(subset=\['time'\]",
    ),
    "duplicate timestamps within an entity": (
        lambda: TimeAutoDiffProcessor(time_column="time", entity_column="e").fit(
            BASE.assign(e=["p"] * 6 + ["q"] * 6, time=list(hourly(6)) + list(hourly(5)) + [hourly(5)[2]])
        ),
        r"duplicate timestamps within an entity.*drop_duplicates\(subset=\['e', 'time'\]",
    ),
    "identifier-like strings": (
        lambda: TimeAutoDiffProcessor(time_column="time", max_categories=10).fit(
            BASE.assign(s=[f"user{i}" for i in range(12)])
        ),
        r"'s' has 12 distinct values, more than `max_categories`=10",
    ),
    "missing entity value": (
        lambda: TimeAutoDiffProcessor(time_column="time", entity_column="e").fit(BASE.assign(e=["p"] * 11 + [None])),
        r"Entity column 'e' has 1 missing",
    ),
    "declared binary with three values": (
        lambda: fit_base(column_kinds={"s": "binary"}),
        r"'s' is declared binary but has 3",
    ),
    "declared continuous strings": (
        lambda: fit_base(column_kinds={"s": "continuous"}),
        r"'s' is continuous but holds non-numeric",
    ),
    "datetime feature column": (
        lambda: TimeAutoDiffProcessor(time_column="time").fit(BASE.assign(when=hourly(12))),
        r"'when' holds dates",
    ),
    "time column equals entity column": (
        lambda: TimeAutoDiffProcessor(time_column="time", entity_column="time").fit(BASE),
        r"`time_column` and `entity_column` must be different",
    ),
    "duplicate column names": (
        lambda: TimeAutoDiffProcessor().fit(pd.DataFrame([[1.0, 2.0]] * 4, columns=["a", "a"])),
        "duplicate column names",
    ),
}


@pytest.mark.parametrize("case", list(FIT_ERRORS))
def test_when_fit_gets_a_bad_table_then_a_value_error_names_the_problem(case):
    action, message = FIT_ERRORS[case]
    with pytest.raises(ValueError, match=message):
        action()


ENCODE_ERRORS = {
    "empty table": (lambda p: p.encode(BASE.iloc[:0]), "table is empty"),
    "unseen category": (lambda p: p.encode(BASE.assign(s=["a", "b", "q"] * 4)), r"'s' has categories \[\"'q'\"\]"),
    "missing column": (lambda p: p.encode(BASE.drop(columns="s")), r"lacks fitted columns \['s'\]"),
    "extra column": (lambda p: p.encode(BASE.assign(extra=1.0)), r"columns \['extra'\] that the processor"),
    "missing time column": (lambda p: p.encode(BASE.drop(columns="time")), r"lacks the time column 'time'"),
    "no window fits": (lambda p: p.encode(BASE.iloc[:3]), r"No window of sequence_length=4 fits"),
    "infinity at encode": (lambda p: p.encode(BASE.assign(x=[np.inf] + [0.5] * 11)), r"'x' has 1 infinite"),
    "other time zone": (
        lambda p: p.encode(BASE.assign(time=hourly(12).tz_localize("UTC"))),
        r"'time' has time zone 'UTC' but the processor was fitted on None",
    ),
    "numeric time for datetime processor": (
        lambda p: p.encode(BASE.assign(time=np.arange(12))),
        r"'time' holds numeric values",
    ),
    "bad stride": (lambda p: p.encode(BASE, stride=0), r"`stride` must be a positive integer"),
    "bad return_tensors": (lambda p: p.encode(BASE, return_tensors="tf"), r"`return_tensors`"),
    "decode wrong width": (lambda p: p.decode(np.zeros((1, 4, 3))), r"`values` must have shape"),
    "split fraction": (lambda p: p.split(BASE, 1.5), r"`validation_fraction`"),
    "split by": (lambda p: p.split(BASE, 0.2, by="rows"), r"`by` must be 'time' or 'entity'"),
    "split by entity without entity column": (lambda p: p.split(BASE, 0.2, by="entity"), r"`entity_column`"),
}


@pytest.mark.parametrize("case", list(ENCODE_ERRORS))
def test_when_encode_decode_or_split_get_bad_input_then_a_value_error_names_the_problem(case):
    action, message = ENCODE_ERRORS[case]
    processor = fit_base()
    with pytest.raises(ValueError, match=message):
        action(processor)


CONSTRUCTOR_ERRORS = [
    ({"sequence_length": 0}, r"`sequence_length` must be a positive integer, got 0"),
    ({"sequence_length": -1}, r"`sequence_length` must be a positive integer, got -1"),
    ({"sequence_length": 2.5}, r"`sequence_length` must be a positive integer, got 2.5"),
    ({"sequence_length": True}, r"`sequence_length` must be a positive integer, got True"),
    ({"stride": 0}, r"`stride` must be a positive integer"),
    ({"max_gap": -1}, r"`max_gap` must be a non-negative integer"),
    ({"max_categories": 0}, r"`max_categories` must be a positive integer"),
    ({"categorical_threshold": "5"}, r"`categorical_threshold` must be a positive integer"),
    ({"column_kinds": {"x": "ordinal"}}, r"Column kind for 'x' must be one of"),
    ({"metadata_columns": ["x"], "static_columns": ["x"]}, r"\['x'\] are listed both in `metadata_columns`"),
    ({"metadata_columns": "x"}, r"`metadata_columns` must be a list of column names"),
    ({"handle_unknown": "ignore"}, r"`handle_unknown` must be 'error' or 'missing'"),
    ({"elapsed_time": "yes", "time_column": "t"}, r"`elapsed_time` must be True or False"),
    ({"elapsed_time": True}, r"`elapsed_time=True` needs a `time_column`"),
]


@pytest.mark.parametrize(
    ("arguments", "message"), CONSTRUCTOR_ERRORS, ids=[str(case[0]) for case in CONSTRUCTOR_ERRORS]
)
def test_when_the_processor_gets_invalid_arguments_then_a_value_error_names_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        TimeAutoDiffProcessor(**arguments)


def test_when_a_column_is_both_time_and_metadata_then_fit_refuses_it():
    with pytest.raises(ValueError, match=r"'time' cannot be both a time/entity column and a metadata/static"):
        TimeAutoDiffProcessor(time_column="time", metadata_columns=["time"]).fit(BASE)


UNFITTED_CALLS = {
    "encode": lambda p: p.encode(BASE),
    "encode_cells": lambda p: p.encode_cells(BASE),
    "decode": lambda p: p.decode(np.zeros((1, 4, 2))),
    "to_features": lambda p: p.to_features(np.zeros((1, 4, 2))),
    "feature_layout": lambda p: p.feature_layout(),
    "schema": lambda p: p.schema(),
    "column_names": lambda p: p.column_names,
    "frequency": lambda p: p.frequency,
    "next_timestamps": lambda p: p.next_timestamps(pd.Timestamp("2024-01-01"), 2),
    "to_internal_time": lambda p: p.to_internal_time("2024-01-01"),
    "random_start_timestamps": lambda p: p.random_start_timestamps(2, np.random.default_rng(0)),
    "time_features": lambda p: p.time_features(np.zeros((1, 4), dtype="datetime64[ns]")),
}


@pytest.mark.parametrize("call", list(UNFITTED_CALLS.values()), ids=list(UNFITTED_CALLS))
def test_when_an_unfitted_processor_is_used_then_a_value_error_says_to_fit_first(call):
    with pytest.raises(ValueError, match=r"not fitted: call `processor.fit\(table\)` first"):
        call(TimeAutoDiffProcessor(time_column="time", sequence_length=4))


def test_when_handle_unknown_is_missing_then_unseen_categories_become_missing_cells(caplog):
    processor = fit_base(handle_unknown="missing")
    table = BASE.assign(s=["a", "b", "q"] * 4)
    with caplog.at_level(logging.WARNING, logger=PROCESSOR_LOGGER):
        batch = processor.encode(table, stride=4)
    assert "unseen categories [\"'q'\"] are treated as missing" in caplog.text
    column = processor.column_names.index("s")
    assert batch["observed_mask"][..., column].reshape(-1).tolist() == [1.0, 1.0, 0.0] * 4
    decoded = decode_batch(processor, batch)
    assert cells(decoded["s"]) == ["a", "b", None] * 4
    assert decoded["x"].tolist() == BASE["x"].tolist()


def test_when_require_columns_is_false_then_a_missing_column_is_entirely_missing():
    processor = fit_base()
    batch = processor.encode(BASE.drop(columns="s"), stride=4, require_columns=False)
    column = processor.column_names.index("s")
    assert np.all(batch["observed_mask"][..., column] == 0)
    assert decode_batch(processor, batch)["s"].isna().all()


# ---------------------------------------------------------------------------------------------------- 10. short
def short_and_long_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": list(hourly(32)) + list(hourly(3)),
            "unit": ["long"] * 32 + ["short"] * 3,
            "x": np.arange(35.0) / 2,
        }
    )


def test_when_an_entity_is_shorter_than_a_window_then_it_is_reported_not_silently_dropped(caplog):
    frame = short_and_long_table()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="unit", sequence_length=8).fit(frame)
    with caplog.at_level(logging.WARNING, logger=PROCESSOR_LOGGER):
        batch = processor.encode(frame)
    assert batch["report"] == {
        "num_windows": 25,
        "num_rows_covered": 32,
        "num_short_segments": 1,
        "num_rows_in_short_segments": 3,
    }
    assert "1 contiguous segment(s) (3 rows) are shorter than sequence_length=8" in caplog.text
    assert "'short' (3 rows)" in caplog.text
    assert set(batch["entity_ids"]) == {"long"}


def test_when_cover_all_rows_then_short_entities_are_padded_and_every_row_is_covered_once():
    frame = short_and_long_table()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="unit", sequence_length=8).fit(frame)
    batch = processor.encode(frame, stride=8, cover_all_rows=True)
    assert batch["entity_ids"] == ["long"] * 4 + ["short"]
    assert batch["row_index"][-1].tolist() == [32, 33, 34, -1, -1, -1, -1, -1]
    covered = batch["row_index"][batch["row_index"] >= 0]
    assert np.array_equal(np.sort(covered), np.arange(35))
    assert batch["report"]["num_rows_covered"] == 35 and batch["report"]["num_short_segments"] == 0
    padded_times = pd.DatetimeIndex(batch["timestamps"][-1])
    assert padded_times.equals(hourly(8))
    assert_round_trip(processor, frame)


def test_when_cover_all_rows_with_a_partial_tail_then_a_final_window_ends_at_the_last_row():
    frame = pd.DataFrame({"time": hourly(10), "x": np.arange(10.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame)
    batch = processor.encode(frame, stride=4, cover_all_rows=True)
    assert batch["row_index"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]
    training = processor.encode(frame, stride=4)
    assert training["row_index"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_when_return_tensors_is_pt_then_model_inputs_are_float32_tensors_with_the_same_values():
    torch = pytest.importorskip("torch")
    processor = fit_base()
    numpy_batch = processor.encode(BASE)
    torch_batch = processor.encode(BASE, return_tensors="pt")
    for key in processor.model_input_names:
        assert isinstance(torch_batch[key], torch.Tensor) and torch_batch[key].dtype == torch.float32
        assert np.array_equal(torch_batch[key].numpy(), numpy_batch[key].astype(np.float32))
    pd.testing.assert_frame_equal(
        processor.decode(torch_batch["values"].double(), observed_mask=torch_batch["observed_mask"]),
        processor.decode(numpy_batch["values"], observed_mask=numpy_batch["observed_mask"]),
        check_exact=False,
        rtol=1e-6,
    )


@pytest.mark.parametrize("frequency", ["h", "15min", "D", "MS", "B"])
def test_timestamps_for_many_starts_equal_one_start_at_a_time(frequency):
    table = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=60, freq=frequency), "x": np.arange(60.0)})
    processor = TimeAutoDiffProcessor(time_column="time", sequence_length=8).fit(table)
    starts = [processor.to_internal_time(value) for value in ["2024-01-03", "2024-03-01", "2024-01-05"]]
    together = processor.step_timestamps_for_starts(starts, 8)
    one_by_one = np.stack([processor.step_timestamps(start, 8) for start in starts])
    assert together.dtype == one_by_one.dtype and np.array_equal(together, one_by_one)


def test_fit_records_where_bridged_absent_hours_fall_in_windows_and_saves_them_as_json(tmp_path):
    frame = pd.read_csv(FIXTURES / "processor_two_stations.csv")
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="station", sequence_length=4).fit(frame)
    # Non-overlapping windows: station A's 21 steps give 5 (10:00, its bridged hour, is step 2 of the third),
    # station B's two runs of 8 rows give 2 + 2.
    expected = {"window_length": 4, "windows": 9, "share": 1 / 9, "runs": [[[2, 1]]]}
    assert processor.time_info["gap_patterns"] == expected
    processor.save_pretrained(str(tmp_path))
    assert TimeAutoDiffProcessor.from_pretrained(str(tmp_path)).time_info["gap_patterns"]["runs"] == [[[2, 1]]]
    complete = TimeAutoDiffProcessor(time_column="time", sequence_length=4).fit(frame[frame["station"] == "B"])
    assert "gap_patterns" not in complete.time_info
