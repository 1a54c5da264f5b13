"""Hide 10% of the cells of two weeks of bike-sharing data, impute them with 10 draws each, and show the spread."""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from timeautodiff_hf import (
    TimeAutoDiffPipeline,
    load_bike_sharing,
    train_bike_sharing_model,
)

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model", default=None, help="Saved model folder or Hub repo id (default: train one here).")
parser.add_argument("--output-dir", default="examples_output/impute")
parser.add_argument("--num-rows", type=int, default=24 * 14, help="Hours at the end of the table to work on.")
parser.add_argument("--num-samples", type=int, default=10, help="Imputation draws per missing cell.")
parser.add_argument("--num-inference-steps", type=int, default=50)
parser.add_argument("--vae-steps", type=int, default=800, help="Training steps when no --model is given.")
parser.add_argument("--denoiser-steps", type=int, default=1500, help="Training steps when no --model is given.")
options = parser.parse_args()
output = Path(options.output_dir)
if options.model is None:  # a small model trained on the bundled table (a few minutes on a CPU)
    options.model = train_bike_sharing_model(str(output / "model"), options.vae_steps, options.denoiser_steps)
pipe = TimeAutoDiffPipeline.from_pretrained(options.model)

# 1. hide 10% of the cells of every column (the timestamps stay known)
truth = load_bike_sharing().tail(options.num_rows).reset_index(drop=True)
columns = [name for name in truth.columns if name != "datetime"]
hidden = np.random.default_rng(0).random((len(truth), len(columns))) < 0.1
holes = truth.copy()
for index, name in enumerate(columns):
    holes[name] = holes[name].mask(hidden[:, index])

# 2. impute: NaN cells are generated `num_samples` times, observed cells are returned exactly
draws = pipe.impute(
    holes,
    num_samples=options.num_samples,
    num_inference_steps=options.num_inference_steps,
    generator=torch.Generator().manual_seed(0),
)
estimate = draws.attrs["point_estimate"]  # median of the draws (most frequent value for categories)
output.mkdir(parents=True, exist_ok=True)
draws.to_csv(output / "imputed_draws.csv", index=False)
estimate.to_csv(output / "imputed.csv", index=False)

# 3. error of the point estimate on the hidden cells, against filling with the column mean
continuous = [c["name"] for c in pipe.processor.columns if c["kind"] == "continuous"]
for name in continuous:
    cells = hidden[:, columns.index(name)]
    model = np.abs(estimate.loc[cells, name] - truth.loc[cells, name]).mean()
    baseline = np.abs(holes[name].mean() - truth.loc[cells, name]).mean()
    print(f"{name:>10}: MAE on {cells.sum():3d} hidden cells  model {model:8.3f}   column mean {baseline:8.3f}")

# 4. picture: the true `cnt`, what the model saw, and the 10-90% band of the draws
samples = np.stack([frame["cnt"].to_numpy(float) for _, frame in draws.groupby("sample")])
cells = hidden[:, columns.index("cnt")]
figure, axis = plt.subplots(figsize=(11, 3.5))
axis.plot(truth["datetime"], truth["cnt"], color="black", linewidth=0.8, label="truth")
axis.scatter(holes["datetime"], holes["cnt"], s=4, color="tab:blue", label="observed")
band = np.quantile(samples, [0.1, 0.9], axis=0)
axis.fill_between(truth["datetime"], band[0], band[1], color="tab:orange", alpha=0.4, label="10-90% of draws")
axis.scatter(truth.loc[cells, "datetime"], estimate.loc[cells, "cnt"], s=12, color="tab:red", label="imputed (median)")
axis.set_title("imputation of hidden hourly rentals (cnt)")
axis.legend(fontsize=8)
figure.autofmt_xdate()
figure.tight_layout()
figure.savefig(output / "imputation.png", dpi=110)
print(f"Wrote {output / 'imputed.csv'}, {output / 'imputed_draws.csv'} and {output / 'imputation.png'}")
