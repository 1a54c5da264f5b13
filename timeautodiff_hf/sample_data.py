"""The small real data set bundled with the package (UCI Bike Sharing, hourly) and its recommended schema."""

from __future__ import annotations

from importlib import resources

import pandas as pd

BIKE_SHARING_SCHEMA = {
    "time_column": "datetime",
    "metadata_columns": ["holiday", "workingday", "weathersit", "temp", "atemp", "hum", "windspeed"],
}


def bike_sharing_path() -> str:
    """Path of the bundled CSV (see `timeautodiff_hf/data/PROVENANCE.md` for source and licence, CC BY 4.0)."""
    return str(resources.files("timeautodiff_hf") / "data" / "bike_sharing_hourly.csv")


def load_bike_sharing(num_rows: int | None = None) -> pd.DataFrame:
    """
    Load the bundled UCI Bike Sharing hourly table (17,379 rows, 15 mixed-type columns plus `datetime`).

    Args:
        num_rows (`int`, *optional*): keep only the first `num_rows` rows (in time order).

    Returns:
        `pd.DataFrame` with a `datetime` column of timestamps, integer categorical/binary columns and float/int
        continuous columns. Use `BIKE_SHARING_SCHEMA` as processor arguments (weather and calendar columns are the
        time-varying metadata).
    """
    frame = pd.read_csv(bike_sharing_path(), nrows=num_rows)
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    return frame
