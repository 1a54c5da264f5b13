"""Evaluate a bike-sharing model on its held-out period: fidelity metrics beside the real-vs-real floor, JSON, PNGs."""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from timeautodiff_hf import (
    TimeAutoDiffPipeline,
    load_bike_sharing,
    train_bike_sharing_model,
)
from timeautodiff_hf.metrics import evaluate_generation, plot_embedding, plot_marginals, save_report

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model", default=None, help="Saved model folder or Hub repo id (default: train one here).")
parser.add_argument("--output-dir", default="examples_output/evaluate")
parser.add_argument("--validation-fraction", type=float, default=0.1, help="Held-out final period (as in training).")
parser.add_argument("--max-windows", type=int, default=1000, help="Cap on real (and so synthetic) windows.")
parser.add_argument("--num-inference-steps", type=int, default=50)
parser.add_argument("--vae-steps", type=int, default=800, help="Training steps when no --model is given.")
parser.add_argument("--denoiser-steps", type=int, default=1500, help="Training steps when no --model is given.")
options = parser.parse_args()
output = Path(options.output_dir)
if options.model is None:  # a small model trained on the bundled table (a few minutes on a CPU)
    options.model = train_bike_sharing_model(str(output / "model"), options.vae_steps, options.denoiser_steps)
pipe = TimeAutoDiffPipeline.from_pretrained(options.model)
processor = pipe.processor

# 1. real windows: the held-out final period (the trainer's time split), cut at stride 1 so that all phases appear
_, held_out = processor.split(load_bike_sharing(), options.validation_fraction, by="time")
batch = processor.encode(held_out, stride=1)
keep = np.unique(np.linspace(0, len(batch["values"]) - 1, options.max_windows).round().astype(int))
real = processor.to_features(batch["values"][keep], batch["observed_mask"][keep])

# 2. as many synthetic windows (model space, NaN = generated as missing) in the same feature space
generated = pipe(
    num_sequences=len(real),
    num_inference_steps=options.num_inference_steps,
    output_type="np",
    generator=torch.Generator().manual_seed(0),
).frames
synthetic = processor.to_features(np.nan_to_num(generated), ~np.isnan(generated))

# 3. the metrics: compare each score with its real-vs-real floor (`discriminative_floor`)
report = evaluate_generation(real, synthetic, layout=processor.feature_layout(), quick=True)
output.mkdir(parents=True, exist_ok=True)
save_report(report, output / "report.json")
print(json.dumps(report["summary"], indent=2))

# 4. pictures: per-column marginals (original units) and a PCA embedding of whole windows
real_frame = processor.decode(batch["values"][keep], observed_mask=batch["observed_mask"][keep])
synthetic_frame = processor.decode(np.nan_to_num(generated), observed_mask=~np.isnan(generated))
columns = ["cnt", "casual", "registered", "hr", "weathersit", "temp"]
plot_marginals(real_frame, synthetic_frame, columns, output / "marginals.png")
plot_embedding(real, synthetic, output / "embedding.png")
print(
    f"{len(real)} real vs {len(synthetic)} synthetic windows; wrote {output}/report.json, marginals.png, embedding.png"
)
