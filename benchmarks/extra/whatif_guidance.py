"""Metadata what-if effect (model_quality.evaluate_conditioning, 20 scenarios, DPM 20) per guidance scale.

python benchmarks/extra/whatif_guidance.py DATASET TARGET COLUMN FROM TO SCALE [SCALE ...]
"""

import functools
import sys
import time

from _paths import ROOT
from beyond_windows import load_pipeline
from model_quality import evaluate_conditioning
from shared_data import load

name, target, column, value_a, value_b = sys.argv[1:6]
table, _, _, _ = load(name)
if table[column].dtype.kind in "iu":
    value_a, value_b = int(value_a), int(value_b)
pipe = load_pipeline(ROOT / "benchmarks" / "runs" / name / "model")
generate = pipe.generate
for scale in map(float, sys.argv[6:]):
    pipe.generate = functools.partial(generate, guidance_scale=scale)
    started = time.time()
    result = evaluate_conditioning(pipe, table, target, (column, value_a, value_b), 20, 20)
    print(
        name,
        "guidance",
        scale,
        "real",
        round(result["real_difference"], 2),
        "generated",
        round(result["generated_difference"], 2),
        round(time.time() - started),
        "s",
        flush=True,
    )
