"""Which columns let the classifier tell our windows from real ones: the held-out-block discriminative score with
each column alone and with all but it.

python benchmarks/extra/discriminative_by_column.py RUN_DIR MODEL_DIR

RUN_DIR is a peers folder (`compare_peers.py prepare` + `score`) with `outputs/timeautodiff/synthetic.parquet`; the
real windows are its training-period reference set with their time blocks, as `compare_peers.py score` uses them
(2 repeats x 300 steps here, so the all-columns number is close to but not the score's).
"""

import argparse
import json
from pathlib import Path

import pandas as pd
from _paths import ROOT  # noqa: F401  (puts benchmarks/ on the path)
from compare_peers import training_period_windows, windows_to_features

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.metrics import discriminative_score

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("run_dir")
parser.add_argument("model")
options = parser.parse_args()
run = Path(options.run_dir)
task = json.loads((run / "task" / "task.json").read_text())
processor = TimeAutoDiffPipeline.from_pretrained(options.model).processor
(real, blocks), _ = training_period_windows(
    processor, pd.read_parquet(run / "task" / "train.parquet"), task["num_windows"]
)
synthetic, _ = windows_to_features(
    pd.read_parquet(run / "outputs" / "timeautodiff" / "synthetic.parquet"), processor, processor.sequence_length
)


def score(features: list[int]) -> float:
    result = discriminative_score(
        real[..., features], synthetic[..., features], num_repeats=2, num_steps=300, real_groups=blocks
    )
    return round(result["mean"], 3)


every = list(range(real.shape[-1]))
print(f"all columns: {score(every)}")
for column in processor.feature_layout():
    own = list(range(column["start"], column["stop"]))
    rest = [index for index in every if index not in own]
    print(f"{column['name']:24s} {column['kind']:12s} alone {score(own)}  without {score(rest)}", flush=True)
