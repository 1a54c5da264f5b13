"""Quickstart on the bundled bike-sharing table: train, generate, impute, forecast; write CSVs and PNG plots."""

import argparse
from pathlib import Path

import numpy as np
import torch

from timeautodiff_hf import (
    BIKE_SHARING_SCHEMA,
    TimeAutoDiffPipeline,
    load_bike_sharing,
    train_bike_sharing_model,
)
from timeautodiff_hf.plotting import plot_forecast_fan, plot_generated_sequences

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--output-dir", default="demo_output")
parser.add_argument("--vae-steps", type=int, default=800)
parser.add_argument("--denoiser-steps", type=int, default=1500)
parser.add_argument("--num-sequences", type=int, default=200)
parser.add_argument("--num-inference-steps", type=int, default=50)
options = parser.parse_args()
output = Path(options.output_dir)
model_dir = output / "model"

# 1. train a small model on the bundled table (last 10% of time held out for validation)
train_bike_sharing_model(model_dir, options.vae_steps, options.denoiser_steps)
pipe = TimeAutoDiffPipeline.from_pretrained(model_dir)
real = load_bike_sharing()

# 2. unconditional generation
synthetic = pipe(
    num_sequences=options.num_sequences,
    num_inference_steps=options.num_inference_steps,
    generator=torch.Generator().manual_seed(0),
).frames
synthetic.to_csv(output / "synthetic.csv", index=False)
plot_generated_sequences(
    synthetic, pipe.processor, output / "real_vs_synthetic.png", real=real, columns=["cnt", "temp", "hr", "weathersit"]
)

# 3. imputation: hide 10% of the `cnt` cells of the last two weeks and fill them
recent = real.tail(24 * 14).reset_index(drop=True)
hidden = np.random.default_rng(0).random(len(recent)) < 0.1
holes = recent.copy()
holes["cnt"] = holes["cnt"].astype(float).mask(hidden)
filled = pipe.impute(
    holes, num_inference_steps=options.num_inference_steps, generator=torch.Generator().manual_seed(0)
)
filled.to_csv(output / "imputed.csv", index=False)
model_error = np.abs(filled.loc[hidden, "cnt"] - recent.loc[hidden, "cnt"]).mean()
mean_error = np.abs(holes["cnt"].mean() - recent.loc[hidden, "cnt"]).mean()
print(f"imputation MAE on {hidden.sum()} hidden cnt cells: model {model_error:.1f}, column mean {mean_error:.1f}")

# 4. probabilistic forecast of the next 24 hours with the real (known) future weather as metadata
history, future = real.iloc[-24 * 8 : -24], real.iloc[-24:]
metadata_future = future[[BIKE_SHARING_SCHEMA["time_column"], *BIKE_SHARING_SCHEMA["metadata_columns"]]]
forecast = pipe.forecast(
    history,
    horizon=24,
    metadata_future=metadata_future,
    num_samples=20,
    num_inference_steps=options.num_inference_steps,
    generator=torch.Generator().manual_seed(0),
)
forecast.to_csv(output / "forecast.csv", index=False)
plot_forecast_fan(history, forecast, pipe.processor, output / "forecast.png", column="cnt", truth=future)
median = forecast.groupby("datetime")["cnt"].median().to_numpy()
print(f"forecast MAE (median of 20 paths) over 24 h: {np.abs(median - future['cnt'].to_numpy()).mean():.1f}")
print(f"Wrote {output}/synthetic.csv, imputed.csv, forecast.csv, real_vs_synthetic.png, forecast.png")
