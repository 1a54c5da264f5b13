"""Imputation error with the interpolation blend off, on, and on with the cross-column regression (model_quality's
protocol, median of 10 draws).

python benchmarks/extra/imputation_blend.py DATASET DPM_STEPS [MODEL_DIR] [NUM_SAMPLES]
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
for blend, regress in ((False, False), (True, False), (True, True)):
    pipe.blend_with_interpolation, pipe.regress_on_other_columns = blend, regress
    started = time.time()
    result = evaluate_imputation(pipe, test, train, schema, steps, num_samples=num_samples)
    row = {"dataset": name, "blend": blend, "regress_on_other_columns": regress, **result["normalised_mae"]}
    row.update(per_column=result["per_column"], observed_unchanged=result["observed_cells_unchanged"])
    print(json.dumps({**row, "seconds": round(time.time() - started)}), flush=True)
