"""Imputation error by `pipe.latent_refinement_steps` (model_quality's protocol and hidden cells), blend off and on.

python benchmarks/extra/latent_refinement.py DATASET MODEL_DIR [--steps 0 20 50] [--rates 0.05] [--samples 10]
"""

import argparse
import json
import time

from _paths import ROOT  # noqa: F401  (puts benchmarks/ on the path)
from beyond_windows import load_pipeline
from model_quality import evaluate_imputation, time_split
from shared_data import load

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("dataset")
parser.add_argument("model")
parser.add_argument("--steps", type=int, nargs="+", default=[0, 20, 50])
parser.add_argument("--rates", type=float, nargs="+", default=[0.05])
parser.add_argument("--samples", type=int, default=10, help="Draws per cell (median as the point estimate).")
parser.add_argument("--dpm-steps", type=int, default=20)
parser.add_argument("--blend", choices=["off", "on", "both"], default="both")
options = parser.parse_args()
table, schema, _, _ = load(options.dataset)
train, test = time_split(table, schema)
pipe = load_pipeline(options.model)
blends = {"off": [False], "on": [True], "both": [False, True]}[options.blend]
for rate in options.rates:
    for steps in options.steps:
        for blend in blends:
            pipe.latent_refinement_steps, pipe.latent_refinement_rate = steps, rate
            pipe.blend_with_interpolation = blend
            started = time.perf_counter()
            result = evaluate_imputation(pipe, test, train, schema, options.dpm_steps, num_samples=options.samples)
            row = {
                "dataset": options.dataset,
                "refinement_steps": steps,
                "rate": rate,
                "blend": blend,
                **result["normalised_mae"],
                "observed_unchanged": result["observed_cells_unchanged"],
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps(row), flush=True)
