"""
Calibrate a trained model's forecasts on its validation period and score the peers' forecast task with and without.

    python benchmarks/extra/forecast_calibration.py --run-dir benchmarks/runs/peers/bike \
        --model benchmarks/runs/bike/model

The validation period is the last `validation_fraction` (from the model's `training_args.json`) of each entity in the
task's training table, the part the training script held out; the rest is the backtest origins' history (session 7:
the drift baseline and this history were added). Calibrates it as the training script does
(`--settings defaults`: with `calibrate_forecasts`' own defaults instead), writes `forecast_calibration.json` into
the model folder and prints the forecast MAE / training std of the model alone, the calibrated combination and the
seasonal-naive and last-value baselines on the task's origins (median of 10 paths, DPM-Solver++ 20).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _paths import ROOT  # noqa: F401  (makes benchmarks/ importable)
from accelerate import PartialState
from compare_peers import column_scales, forecast_score, our_forecasts, without_sentinels
from diffusers import DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.trainer import calibrate_forecasts


def last_observed(values: pd.Series) -> float:
    """The last observed value (NaN when the column is missing throughout, e.g. AirQuality's NMHC(GT))."""
    observed = values.dropna()
    return float(observed.iloc[-1]) if len(observed) else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--settings", choices=["training", "defaults"], default="training")
    options = parser.parse_args()
    torch.set_num_threads(1)
    run, model = Path(options.run_dir), Path(options.model)
    task = json.loads((run / "task" / "task.json").read_text())
    train = pd.read_parquet(run / "task" / "train.parquet")
    series = pd.read_parquet(run / "task" / "forecast_series.parquet")
    fraction = json.loads((model / "training_args.json").read_text()).get("validation_fraction") or 0.1
    pipe = TimeAutoDiffPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    history, validation = pipe.processor.split(train, fraction, by="time")
    started = time.perf_counter()
    if options.settings == "training":  # exactly what the training script runs (DPM-Solver++ 20, 48 x 2 paths)
        PartialState()  # the training module logs through accelerate
        calibrate_forecasts(
            pipe, validation, argparse.Namespace(forecast_calibration_origins=48, seed=0), history=history
        )
        calibration = pipe.forecast_calibration
    else:  # the method's defaults: the pipeline's scheduler (DDPM 50), 64 origins x 3 paths
        calibration = pipe.calibrate_forecasts(validation, generator=torch.Generator().manual_seed(0), history=history)
    seconds = time.perf_counter() - started
    pipe.save_pretrained(model)
    for key in ("columns", "columns_with_future_metadata"):
        for name, setting in calibration.get(key, {}).items():
            errors = {
                kind: "-" if setting[f"{kind}_mae"] is None else f"{setting[f'{kind}_mae']:.3f}"
                for kind in ("model", "baseline", "combined")
            }  # unknown (None) where the column is missing throughout the backtest
            print(
                f"{key:30s} {name:16s} {setting['baseline']:10s} model {errors['model']} baseline "
                f"{errors['baseline']} combined {errors['combined']} weights "
                f"{setting['weights'][0]:.1f}..{setting['weights'][-1]:.1f}"
            )
    print(f"calibration: {seconds:.1f} s on {len(validation)} validation rows, {calibration['num_origins']} origins")
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    truth = without_sentinels(series, task.get("missing_values", {}))
    scales = column_scales(without_sentinels(train, task.get("missing_values", {})), task["targets"])

    def score(frame):
        return forecast_score(frame, truth, task, scales)

    report = {
        "calibrated": {
            kind: score(frame) for kind, frame in our_forecasts(pipe, task, series, options.steps, train)[0].items()
        }
    }
    pipe.forecast_calibration = None
    report["model_alone"] = {
        kind: score(frame) for kind, frame in our_forecasts(pipe, task, series, options.steps, train)[0].items()
    }
    seasonal_naive = run / "outputs" / "seasonal_naive" / "forecast.parquet"  # written by peers/run_peers.py
    report["seasonal_naive"] = score(pd.read_parquet(seasonal_naive)) if seasonal_naive.is_file() else "not run"
    last_value = pd.concat(
        [
            pd.DataFrame(
                {
                    "origin": origin,
                    "step": np.arange(task["horizon"]),
                    **{n: last_observed(truth[n].iloc[origin - task["context"] : origin]) for n in task["targets"]},
                }
            )
            for origin in task["origins"]
        ],
        ignore_index=True,
    )
    report["last_value"] = score(last_value)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
