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


def train_bike_sharing_model(output_dir: str, vae_steps: int = 800, denoiser_steps: int = 1500) -> str:
    """
    Train a small model on the bundled table with its recommended schema (a few minutes on a CPU), the model the
    quickstart and the examples use when no saved one is given.

    Args:
        output_dir (`str`): where the pipeline is saved.
        vae_steps (`int`, *optional*, defaults to 800): VAE training steps.
        denoiser_steps (`int`, *optional*, defaults to 1500): denoiser training steps.

    Returns:
        `str`: `output_dir`, ready for `TimeAutoDiffPipeline.from_pretrained`.
    """
    from .trainer import main, parse_args

    flags = ["--train_file", bike_sharing_path(), "--time_column", BIKE_SHARING_SCHEMA["time_column"]]
    flags += ["--metadata_columns", ",".join(BIKE_SHARING_SCHEMA["metadata_columns"])]
    flags += ["--vae_steps", str(vae_steps), "--denoiser_steps", str(denoiser_steps), "--output_dir", str(output_dir)]
    main(parse_args(flags))
    return str(output_dir)
