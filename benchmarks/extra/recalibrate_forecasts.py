"""Fit (or refit) a trained model's forecast calibration the way the training script now does, without retraining.

python benchmarks/extra/recalibrate_forecasts.py MODEL_DIR TRAIN_FILE OUTPUT_DIR [--validation-fraction 0.1]

The training table is split like `training/train_timeautodiff.py` splits it (the last `--validation-fraction` of each
entity's period held out); `calibrate_forecasts` backtests on the held-out part with the period before it as the
early origins' history, and the pipeline (weights unchanged) is saved to OUTPUT_DIR with the new calibration. Used
for models trained before the calibration could take history from the training period or choose the drift baseline
(session 7), e.g. the hurricane models, whose 16 held-out months were too short for 24 + 24 steps.
"""

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import torch
from diffusers import DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("model")
parser.add_argument("train_file")
parser.add_argument("output")
parser.add_argument("--validation-fraction", type=float, default=0.1)
parser.add_argument("--origins", type=int, default=48, help="Backtest origins (the training script's default).")
parser.add_argument("--seed", type=int, default=0)
options = parser.parse_args()

pipe = TimeAutoDiffPipeline.from_pretrained(options.model)
pipe.set_progress_bar_config(disable=True)
table = pd.read_parquet(options.train_file)
train, held_out = pipe.processor.split(table, options.validation_fraction, by="time")
saved_scheduler = pipe.scheduler
pipe.scheduler = DPMSolverMultistepScheduler.from_config(saved_scheduler.config)  # as the training script does
calibration = pipe.calibrate_forecasts(
    held_out,
    history=train,
    num_origins=options.origins,
    num_samples=2,
    num_inference_steps=20,
    generator=torch.Generator().manual_seed(options.seed),
)
pipe.scheduler = saved_scheduler
pipe.save_pretrained(options.output)
shutil.copy(Path(options.model) / "training_args.json", Path(options.output) / "training_args.json")
summary = {
    name: {key: setting[key] for key in ("baseline", "model_mae", "baseline_mae", "combined_mae")}
    for name, setting in calibration["columns"].items()
}
print(json.dumps({"horizon": calibration["horizon"], "num_origins": calibration["num_origins"], **summary}, indent=2))
