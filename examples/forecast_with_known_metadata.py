"""Forecast the next 24 hours of bike rentals with the known weather and calendar, and compare with seasonal naive."""

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
from timeautodiff_hf.plotting import plot_forecast_fan

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model", default=None, help="Saved model folder or Hub repo id (default: train one here).")
parser.add_argument("--output-dir", default="examples_output/forecast")
parser.add_argument("--horizon", type=int, default=24, help="Hours to forecast.")
parser.add_argument("--history-hours", type=int, default=24 * 7, help="Hours of history given to the model.")
parser.add_argument("--num-samples", type=int, default=20, help="Sample paths.")
parser.add_argument("--num-inference-steps", type=int, default=50)
parser.add_argument("--vae-steps", type=int, default=800, help="Training steps when no --model is given.")
parser.add_argument("--denoiser-steps", type=int, default=1500, help="Training steps when no --model is given.")
options = parser.parse_args()
output = Path(options.output_dir)
if options.model is None:  # a small model trained on the bundled table (a few minutes on a CPU)
    options.model = train_bike_sharing_model(str(output / "model"), options.vae_steps, options.denoiser_steps)
pipe = TimeAutoDiffPipeline.from_pretrained(options.model)

# 1. the last `horizon` hours of the table are the future; the weather and calendar of those hours are known
real = load_bike_sharing()
history = real.iloc[-options.horizon - options.history_hours : -options.horizon]
future = real.iloc[-options.horizon :]
metadata_future = future[[BIKE_SHARING_SCHEMA["time_column"], *BIKE_SHARING_SCHEMA["metadata_columns"]]]

# 2. probabilistic forecast: `num_samples` paths, each following the known future metadata
forecast = pipe.forecast(
    history,
    horizon=options.horizon,
    metadata_future=metadata_future,
    num_samples=options.num_samples,
    num_inference_steps=options.num_inference_steps,
    generator=torch.Generator().manual_seed(0),
)
output.mkdir(parents=True, exist_ok=True)
forecast.to_csv(output / "forecast.csv", index=False)

# 3. MAE of the median path, against the seasonal naive forecast (the same hour one day earlier)
truth = future["cnt"].to_numpy(float)
median = forecast.groupby("datetime")["cnt"].median().to_numpy()
naive = real["cnt"].to_numpy(float)[-options.horizon - 24 : len(real) - 24]
print(f"MAE over {options.horizon} h: model median {np.abs(median - truth).mean():.1f}")
print(f"                seasonal naive (t - 24 h) {np.abs(naive - truth).mean():.1f}")
low, high = forecast.groupby("datetime")["cnt"].quantile([0.1, 0.9]).unstack().to_numpy().T
print(f"share of true values inside the 10-90% band: {np.mean((truth >= low) & (truth <= high)):.2f}")

# 4. fan chart: history, median, 10-90% band and the truth
plot_forecast_fan(history, forecast, pipe.processor, output / "forecast.png", column="cnt", truth=future)
print(f"Wrote {output / 'forecast.csv'} and {output / 'forecast.png'}")
