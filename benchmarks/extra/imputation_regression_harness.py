"""Imputation error with and without the cross-column regression, scored like the peers harness (one draw; errors
without missing-value sentinels, scaled by the sentinel-free training std).

python benchmarks/extra/imputation_regression_harness.py DATASET MODEL_DIR [DPM_STEPS]

Needs no peers run: the hidden cells are those `compare_peers.py prepare` writes (the time split of
`model_quality.py`, 10 % of the observed continuous test cells, seed 1), so the numbers compare with the peers'.
"""

import json
import sys
import time

import pandas as pd
import torch
from _paths import ROOT  # noqa: F401  (puts benchmarks/ on the path)
from beyond_windows import load_pipeline
from compare_peers import column_scales, hidden_cell_mask, imputation_score, without_sentinels
from model_quality import continuous_targets, time_split
from shared_data import load

name, model = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
table, schema, _, _ = load(name)
train, test = time_split(table, schema)
train, test = train.reset_index(drop=True), test.reset_index(drop=True)
pipe = load_pipeline(model)
targets = continuous_targets(pipe.processor)
hidden = hidden_cell_mask(test, pipe.processor)
holes = test.copy()
for column in targets:
    holes[column] = holes[column].astype(float).mask(hidden[column].to_numpy())
sentinels = {key: list(value) for key, value in pipe.processor.missing_values.items()}
scales = column_scales(without_sentinels(train, sentinels), targets)
truth = without_sentinels(test, sentinels)
for regress in (False, True):
    pipe.regress_on_other_columns = regress
    started = time.perf_counter()
    filled = pipe.impute(holes, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
    row = {
        "dataset": name,
        "regress_on_other_columns": regress,
        "normalised_mae": round(imputation_score(filled, truth, hidden, scales), 4),
        "per_column": {
            column: round(imputation_score(filled, truth, hidden[[column]], {column: scales[column]}), 4)
            for column in targets
            if hidden[column].any()
        },
        "regressed_columns": sorted(filled.attrs["regressed_columns"]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(row), flush=True)
print(pd.Series(scales).round(3).to_dict())
