"""PhysioNet ICU type 3 minus 1 generated means per guidance scale (model of `beyond_windows.py --parts static`).

python benchmarks/extra/static_guidance.py SCALE [SCALE ...]
"""

import sys

import pandas as pd
from _paths import ROOT
from beyond_windows import PHYSIONET_SERIES, load_pipeline, seeded

run = ROOT / "benchmarks" / "runs" / "physionet_static"
pipe = load_pipeline(run / "model")
table = pd.read_parquet(run / "train.parquet")
real = {n: table.loc[table.ICUType == 3, n].mean() - table.loc[table.ICUType == 1, n].mean() for n in PHYSIONET_SERIES}
print("real", {name: round(value, 2) for name, value in real.items()})
for scale in map(float, sys.argv[1:]):
    draws = {
        value: pipe.generate(
            num_sequences=300,
            sequence_length=48,
            static=pd.DataFrame({"ICUType": [value]}),
            num_inference_steps=20,
            missing="as_data",
            guidance_scale=scale,
            generator=seeded(10 + index),
        )
        for index, value in enumerate((1, 3))
    }
    print(
        scale,
        {n: round(draws[3][n].astype(float).mean() - draws[1][n].astype(float).mean(), 2) for n in PHYSIONET_SERIES},
        flush=True,
    )
