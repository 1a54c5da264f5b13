"""Imputation error with and without the cross-column regression, scored like the peers harness (one draw per seed;
errors without missing-value sentinels, scaled by the sentinel-free training std).

python benchmarks/extra/imputation_regression_harness.py DATASET MODEL_DIR [--steps 20] [--seeds 0 1 2] [--output F]

Needs no peers run: the hidden cells are those `compare_peers.py prepare` writes (the time split of
`model_quality.py`, 10 % of the observed continuous test cells, seed 1), so the numbers compare with the peers'.
`--seeds` repeats the draw (and the validation pass) with other generator seeds; the last line gives mean and std.
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from _paths import ROOT  # noqa: F401  (puts benchmarks/ on the path)
from beyond_windows import load_pipeline
from compare_peers import column_scales, hidden_cell_mask, imputation_score, without_sentinels
from model_quality import continuous_targets, time_split
from shared_data import load

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("dataset")
parser.add_argument("model")
parser.add_argument("--steps", type=int, default=20, help="DPM-Solver++ steps.")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--output", default=None, help="JSON file for the rows (default: print only).")
options = parser.parse_args()

table, schema, _, _ = load(options.dataset)
train, test = time_split(table, schema)
train, test = train.reset_index(drop=True), test.reset_index(drop=True)
pipe = load_pipeline(options.model)
targets = continuous_targets(pipe.processor)
hidden = hidden_cell_mask(test, pipe.processor)
holes = test.copy()
for column in targets:
    holes[column] = holes[column].astype(float).mask(hidden[column].to_numpy())
sentinels = {key: list(value) for key, value in pipe.processor.missing_values.items()}
scales = column_scales(without_sentinels(train, sentinels), targets)
truth = without_sentinels(test, sentinels)
rows = []
for seed in options.seeds:
    for regress in (False, True):
        pipe.regress_on_other_columns = regress
        started = time.perf_counter()
        filled = pipe.impute(holes, num_inference_steps=options.steps, generator=torch.Generator().manual_seed(seed))
        rows.append(
            {
                "dataset": options.dataset,
                "seed": seed,
                "regress_on_other_columns": regress,
                "normalised_mae": round(imputation_score(filled, truth, hidden, scales), 4),
                "per_column": {
                    column: round(imputation_score(filled, truth, hidden[[column]], {column: scales[column]}), 4)
                    for column in targets
                    if hidden[column].any()
                },
                "regressed_columns": filled.attrs["regressed_columns"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
print(pd.Series(scales).round(3).to_dict())
for regress in (False, True):
    errors = [row["normalised_mae"] for row in rows if row["regress_on_other_columns"] == regress]
    print(f"regress_on_other_columns={regress}: {np.mean(errors):.4f} ± {np.std(errors):.4f} over {len(errors)} seeds")
if options.output:
    with open(options.output, "w") as handle:
        json.dump(rows, handle, indent=2)
