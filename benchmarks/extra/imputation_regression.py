"""Imputation error with the interpolation blend alone and with the cross-column regression (model_quality's protocol).

python benchmarks/extra/imputation_regression.py DATASET DPM_STEPS [MODEL_DIR] [NUM_SAMPLES]
"""

import json
import sys
import time

from _paths import ROOT
from beyond_windows import load_pipeline
from model_quality import evaluate_imputation, time_split
from shared_data import load

name, steps = sys.argv[1], int(sys.argv[2])
model = sys.argv[3] if len(sys.argv) > 3 else ROOT / "benchmarks" / "runs" / name / "model"
num_samples = int(sys.argv[4]) if len(sys.argv) > 4 else 10
table, schema, _, _ = load(name)
train, test = time_split(table, schema)
pipe = load_pipeline(model)
for regress in (False, True):
    pipe.regress_on_other_columns = regress
    started = time.time()
    result = evaluate_imputation(pipe, test, train, schema, steps, num_samples=num_samples)
    print(
        json.dumps(
            {
                "dataset": name,
                "regress_on_other_columns": regress,
                **result["normalised_mae"],
                "per_column": result.get("per_column"),
                "observed_unchanged": result["observed_cells_unchanged"],
                "seconds": round(time.time() - started),
            }
        ),
        flush=True,
    )
