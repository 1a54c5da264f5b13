"""Loaders for the shared real data sets, with their documented parsing pitfalls handled, and their schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`../shared/data` beside the repository (or `$TIMEAUTODIFF_DATA`)."""
    candidates = [Path(os.environ["TIMEAUTODIFF_DATA"])] if "TIMEAUTODIFF_DATA" in os.environ else []
    candidates += [REPOSITORY.parent / "shared" / "data", Path("/work/shared/data")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"No shared data folder found (looked in {[str(c) for c in candidates]}).")


def load_metro() -> pd.DataFrame:
    # 'None' is a holiday value, not a missing cell; several weather rows share an hour: keep the first.
    frame = pd.read_csv(
        shared_data_dir() / "metro_traffic" / "Metro_Traffic.csv", keep_default_na=False, na_values=[""]
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%m/%d/%Y %H:%M")
    return frame.drop_duplicates(subset=["date"], keep="first").reset_index(drop=True)


def load_pm25() -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir() / "beijing_pm25" / "Pollution_Data.csv")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def load_hurricane() -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir() / "hurricane" / "Hurricane.csv", encoding="utf-8-sig")
    frame["date"] = pd.to_datetime(frame["date"], format="%m/%d/%Y %H:%M")
    return frame.drop(columns=["year"])


def load_airquality() -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir() / "airquality_uci" / "AirQuality.csv")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def load_etth1() -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir() / "etth" / "ETTh1.csv")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def load_stocks() -> pd.DataFrame:
    return pd.read_csv(shared_data_dir() / "stocks_google" / "stock_data_timegan.csv")


def load_bike() -> pd.DataFrame:
    from timeautodiff_hf import load_bike_sharing

    return load_bike_sharing()


AIRQUALITY_COLUMNS = [
    "CO(GT)",
    "PT08.S1(CO)",
    "NMHC(GT)",
    "C6H6(GT)",
    "PT08.S2(NMHC)",
    "NOx(GT)",
    "PT08.S3(NOx)",
    "NO2(GT)",
    "PT08.S4(NO2)",
    "PT08.S5(O3)",
    "T",
    "RH",
    "AH",
]

# name -> (loader, processor arguments, target column for forecasting/conditioning, metadata scenario to contrast)
DATASETS = {
    "bike": (
        load_bike,
        {
            "time_column": "datetime",
            "metadata_columns": ["holiday", "workingday", "weathersit", "temp", "atemp", "hum", "windspeed"],
        },
        "cnt",
        ("weathersit", 1, 3),
    ),
    "metro": (
        load_metro,
        {
            "time_column": "date",
            "metadata_columns": [
                "holiday",
                "temp",
                "rain_1h",
                "snow_1h",
                "clouds_all",
                "weather_main",
                "weather_description",
            ],
        },
        "traffic_volume",
        ("weather_main", "Clear", "Snow"),
    ),
    "pm25": (load_pm25, {"time_column": "date", "metadata_columns": ["cbwd", "Iws"]}, "pm2.5", ("cbwd", "NW", "cv")),
    "hurricane": (
        load_hurricane,
        {
            "time_column": "date",
            "entity_column": "region",
            "static_columns": ["type"],
            "metadata_columns": ["hurricane"],
        },
        "observed",
        None,
    ),
    "airquality": (
        load_airquality,
        {"time_column": "date", "missing_values": {name: -200 for name in AIRQUALITY_COLUMNS}},
        "CO(GT)",
        None,
    ),
    "etth1": (load_etth1, {"time_column": "date"}, "OT", None),
    "stocks": (load_stocks, {}, "Close", None),
}


def load(name: str) -> tuple[pd.DataFrame, dict, str, tuple | None]:
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; expected one of {sorted(DATASETS)}.")
    loader, schema, target, contrast = DATASETS[name]
    return loader(), dict(schema), target, contrast
