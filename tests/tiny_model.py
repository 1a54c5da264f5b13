"""A tiny mixed-type table and a tiny trained pipeline shared by the pipeline, CLI and Hub tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TINY_FLAGS = [
    "--sequence_length",
    "8",
    "--vae_hidden_size",
    "16",
    "--denoiser_hidden_size",
    "16",
    "--denoiser_layers",
    "1",
    "--num_heads",
    "2",
    "--latent_dim",
    "3",
    "--vae_steps",
    "40",
    "--denoiser_steps",
    "40",
    "--batch_size",
    "16",
    "--validation_steps",
    "20",
    "--num_train_timesteps",
    "100",
]


def make_tiny_table(num_entities: int = 2, num_steps: int = 60, seed: int = 0) -> pd.DataFrame:
    """Hourly series per entity: a float, an int count, a 3-category string, a bool and string/float metadata."""
    rng = np.random.default_rng(seed)
    frames = []
    for entity in range(num_entities):
        time = pd.date_range("2024-01-01", periods=num_steps, freq="h")
        hour = time.hour.to_numpy()
        weather = rng.choice(["rain", "sun"], size=num_steps, p=[0.3, 0.7])
        temperature = np.round(10 + 5 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 1, num_steps), 2)
        load = 50 + 20 * np.sin(2 * np.pi * hour / 24) - 15 * (weather == "rain") + rng.normal(0, 3, num_steps)
        frames.append(
            pd.DataFrame(
                {
                    "station": f"s{entity}",
                    "time": time,
                    "temperature": temperature,
                    "load": np.round(load).astype(np.int64),
                    "mode": rng.choice(["a", "b", "c"], size=num_steps),
                    "busy": load > 50,
                    "weather": weather,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def tiny_training_args(table_path: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--train_file",
        str(table_path),
        "--time_column",
        "time",
        "--entity_column",
        "station",
        "--metadata_columns",
        "weather,temperature",
        "--output_dir",
        str(output_dir),
        *TINY_FLAGS,
        *extra,
    ]


def train_tiny_pipeline(directory: Path, *extra: str) -> Path:
    """Train the tiny model into `directory / "model"` (a few seconds) and return the folder."""
    from timeautodiff_hf.trainer import main, parse_args

    table_path = directory / "tiny.csv"
    make_tiny_table().to_csv(table_path, index=False)
    output_dir = directory / "model"
    main(parse_args(tiny_training_args(table_path, output_dir, *extra)))
    return output_dir
