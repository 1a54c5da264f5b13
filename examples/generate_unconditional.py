"""Generate synthetic bike-sharing days and compare them with the real table: a CSV and a real-vs-synthetic PNG."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from timeautodiff_hf import (
    TimeAutoDiffPipeline,
    load_bike_sharing,
    train_bike_sharing_model,
)
from timeautodiff_hf.plotting import plot_generated_sequences

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model", default=None, help="Saved model folder or Hub repo id (default: train one here).")
parser.add_argument("--output-dir", default="examples_output/generate")
parser.add_argument("--num-sequences", type=int, default=200, help="Synthetic sequences (one window each).")
parser.add_argument("--num-inference-steps", type=int, default=50)
parser.add_argument("--vae-steps", type=int, default=800, help="Training steps when no --model is given.")
parser.add_argument("--denoiser-steps", type=int, default=1500, help="Training steps when no --model is given.")
parser.add_argument("--seed", type=int, default=0)
options = parser.parse_args()
output = Path(options.output_dir)

# 1. the model: the one given, or a small one trained on the bundled bike-sharing table (a few minutes on a CPU)
if options.model is None:  # a small model trained on the bundled table (a few minutes on a CPU)
    options.model = train_bike_sharing_model(str(output / "model"), options.vae_steps, options.denoiser_steps)
pipe = TimeAutoDiffPipeline.from_pretrained(options.model)

# 2. unconditional generation: every column (calendar, weather and counts) is generated, with random start times
synthetic = pipe(
    num_sequences=options.num_sequences,
    num_inference_steps=options.num_inference_steps,
    generator=torch.Generator().manual_seed(options.seed),
).frames
output.mkdir(parents=True, exist_ok=True)
synthetic.to_csv(output / "synthetic.csv", index=False)

# 3. a few sequences side by side with real windows, and the marginals of both
real = load_bike_sharing()
plot_generated_sequences(
    synthetic, pipe.processor, output / "real_vs_synthetic.png", real=real, columns=["cnt", "temp", "hr", "weathersit"]
)
summary = {"real": real["cnt"].describe(), "synthetic": synthetic["cnt"].describe()}
print(f"cnt per hour, real vs synthetic:\n{pd.DataFrame(summary).round(1)}")
print(f"Wrote {len(synthetic)} rows to {output / 'synthetic.csv'} and {output / 'real_vs_synthetic.png'}")
