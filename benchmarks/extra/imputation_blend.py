"""Imputation error with `pipe.blend_with_interpolation` off and on (model_quality's protocol, median of 10 draws).

python benchmarks/extra/imputation_blend.py DATASET DPM_STEPS [MODEL_DIR]
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
table, schema, _, _ = load(name)
train, test = time_split(table, schema)
pipe = load_pipeline(model)
for flag in (False, True):
    pipe.blend_with_interpolation = flag
    started = time.time()
    result = evaluate_imputation(pipe, test, train, schema, steps, num_samples=10)
    print(
        name,
        "blend",
        flag,
        json.dumps(result["normalised_mae"]),
        result["observed_cells_unchanged"],
        round(time.time() - started),
        "s",
        flush=True,
    )
