"""Columns that are a fixed function of the timestamp (`timeautodiff_hf.calendar_columns`): found, saved, used."""

import numpy as np
import pandas as pd

from timeautodiff_hf import BIKE_SHARING_SCHEMA, TimeAutoDiffProcessor, load_bike_sharing


def calendar_keys(processor: TimeAutoDiffProcessor) -> dict:
    return {column["name"]: column["calendar"]["key"] for column in processor.columns if column.get("calendar")}


def test_bike_sharing_calendar_columns_are_found_and_the_weather_and_holidays_are_not(tmp_path):
    table = load_bike_sharing()
    processor = TimeAutoDiffProcessor(**BIKE_SHARING_SCHEMA).fit(table)
    # season changes on fixed dates (21 March, ...), so it follows the day of the year, not the month.
    assert calendar_keys(processor) == {
        "season": "day_of_year",
        "yr": "year",
        "mnth": "month",
        "hr": "hour",
        "weekday": "day_of_week",
    }
    batch = processor.encode(table.iloc[:500])
    values, mask = processor.calendar_cells(batch["timestamps"])
    known = (mask > 0) & (batch["observed_mask"] > 0)
    assert known.any() and np.array_equal(values[known], batch["values"][known])
    processor.save_pretrained(tmp_path)
    reloaded = TimeAutoDiffProcessor.from_pretrained(tmp_path)
    assert calendar_keys(reloaded) == calendar_keys(processor)
    np.testing.assert_array_equal(reloaded.calendar_cells(batch["timestamps"])[0], values)


def test_columns_that_only_look_calendar_like_are_not_taken_for_calendar_columns():
    rng = np.random.default_rng(0)
    times = pd.date_range("2023-01-01", "2024-12-31 23:00", freq="h")
    days = times.normalize()
    daily_label = pd.Series(rng.choice(["x", "y", "z"], size=days.nunique()), index=days.unique())[days].to_numpy()
    table = pd.DataFrame(
        {
            "time": times,
            "daily_label": daily_label,  # constant within each day, a fresh draw every day
            "noise": rng.choice(["p", "q"], size=len(times)),
            "hour_label": np.where(times.hour < 12, "am", "pm"),
            "day": times.day.astype(float),  # a continuous column: the day of the month
            "era": np.where(times.year == 2023, "old", "new"),  # a label per year: looked up by year
            "budget": np.where(times.year == 2023, 1.5, 2.5),  # a yearly figure: data, not a calendar field
        }
    )
    kinds = {"day": "continuous", "budget": "continuous"}
    processor = TimeAutoDiffProcessor(time_column="time", column_kinds=kinds).fit(table)
    assert calendar_keys(processor) == {"hour_label": "hour", "day": "day_of_month", "era": "year"}
    # One year of a daily label: every date is seen once, so nothing shows that it recurs.
    first_year = table[table["time"].dt.year == 2023].drop(columns=["era", "budget"])
    first_year["daily_label"] = np.where(first_year["time"].dt.day_of_year % 3 == 0, "x", "y")
    processor = TimeAutoDiffProcessor(time_column="time", column_kinds={"day": "continuous"}).fit(first_year)
    assert "daily_label" not in calendar_keys(processor)


def test_calendar_keys_are_read_in_the_fitted_time_zone_and_unseen_keys_are_left_open():
    times = pd.date_range("2024-03-01", periods=24 * 20, freq="h", tz="America/New_York")
    table = pd.DataFrame({"time": times, "hour": times.hour, "x": np.arange(len(times), dtype=float)})
    processor = TimeAutoDiffProcessor(time_column="time").fit(table)
    assert calendar_keys(processor) == {"hour": "hour"}
    batch = processor.encode(table)
    values, mask = processor.calendar_cells(batch["timestamps"])
    hour = processor.column_names.index("hour")
    decoded = processor.decode(values, timestamps=batch["timestamps"])
    assert (decoded["hour"].to_numpy() == decoded["time"].dt.hour.to_numpy()).all()  # local hours, across DST
    assert mask[..., hour].all()
    processor.columns[hour]["calendar"]["values"] = processor.columns[hour]["calendar"]["values"][:12]
    _, mask = processor.calendar_cells(batch["timestamps"])
    hours = pd.DatetimeIndex(batch["timestamps"].reshape(-1)).tz_localize("UTC").tz_convert("America/New_York").hour
    assert np.array_equal(mask[..., hour].reshape(-1) > 0, hours < 12)
