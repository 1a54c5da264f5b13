"""Generated missingness per column with the missingness calibration off (1 candidate) and on (several candidates).

    python benchmarks/extra/missing_calibration.py pm25 [--max-train-minutes M] [--candidates 1 2 4]

Trains the default configuration on the time-ordered training part (as `model_quality.py`) unless the run folder
already holds a model, then generates `--num-sequences` sequences with `missing="as_data"` per sampler, candidate
count and seed, and reports for every column that can be missing: the generated missing rate against the training
rate, the share of sequences with a gap, and the mean length of a missing run (steps), with the same statistics of
the training part cut into windows of the same length.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _paths import ROOT
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from model_quality import schema_flags, time_split
from shared_data import load

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.trainer import main as train
from timeautodiff_hf.trainer import parse_args

SAMPLERS = {"ddpm50": (DDPMScheduler, 50), "ddim50": (DDIMScheduler, 50), "dpm20": (DPMSolverMultistepScheduler, 20)}


def gap_statistics(missing: np.ndarray) -> dict:
    """`missing`: (sequences, length) booleans -> rate, share of sequences with a gap, mean run length."""
    padded = np.pad(missing.astype(np.int8), ((0, 0), (1, 1)))
    starts = (np.diff(padded, axis=1) == 1).sum()
    return {
        "rate": round(float(missing.mean()), 4),
        "sequences_with_gap": round(float(missing.any(axis=1).mean()), 4),
        "mean_run": round(float(missing.sum() / starts), 2) if starts else 0.0,
    }


def training_statistics(train_table, pipe) -> dict:
    processor = pipe.processor
    length = processor.sequence_length
    groups = (
        [train_table]
        if processor.entity_column is None
        else [g for _, g in train_table.groupby(processor.entity_column)]
    )
    result = {}
    for column in processor.columns:
        if not column.get("missing_rate"):
            continue
        name = column["name"]
        windows = []
        for group in groups:
            values = processor._apply_missing_sentinels(group[name], name).isna().to_numpy()
            usable = len(values) // length * length
            windows.append(values[:usable].reshape(-1, length))
        result[name] = {"training_rate": round(column["missing_rate"], 4), **gap_statistics(np.concatenate(windows))}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--max-train-minutes", type=float, default=None)
    parser.add_argument("--num-sequences", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--candidates", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--samplers", nargs="+", default=["ddpm50", "dpm20"], choices=sorted(SAMPLERS))
    options = parser.parse_args()
    run_dir = Path(options.run_dir) if options.run_dir else ROOT / "benchmarks" / "runs" / options.dataset
    table, schema, _, _ = load(options.dataset)
    train_table, _ = time_split(table, schema)
    model_dir = run_dir / "model"
    if not (model_dir / "model_index.json").is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        train_table.to_parquet(run_dir / "train.parquet", index=False)
        budget = [] if options.max_train_minutes is None else ["--max_train_minutes", str(options.max_train_minutes)]
        flags = ["--train_file", str(run_dir / "train.parquet"), *schema_flags(schema), *budget]
        train(parse_args([*flags, "--report_to", "none", "--output_dir", str(model_dir)]))
    pipe = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    report = {"dataset": options.dataset, "model": str(model_dir), "training": training_statistics(train_table, pipe)}
    print(json.dumps(report["training"]), flush=True)
    config = pipe.scheduler.config
    rows = []
    for sampler in options.samplers:
        scheduler, steps = SAMPLERS[sampler]
        pipe.scheduler = scheduler.from_config(config)
        for candidates in options.candidates:
            pipe.missingness_candidates = candidates
            for seed in options.seeds:
                started = time.perf_counter()
                frame = pipe.generate(
                    num_sequences=options.num_sequences,
                    num_inference_steps=steps,
                    missing="as_data",
                    generator=torch.Generator().manual_seed(seed),
                )
                seconds = time.perf_counter() - started
                row = {"sampler": sampler, "candidates": candidates, "seed": seed, "seconds": round(seconds, 1)}
                for name in report["training"]:
                    missing = frame[name].isna().to_numpy().reshape(options.num_sequences, -1)
                    row[name] = gap_statistics(missing)
                rows.append(row)
                print(json.dumps(row), flush=True)
    report["runs"] = rows
    output = ROOT / "benchmarks" / "results" / f"missing_calibration_{options.dataset}.json"
    output.write_text(json.dumps(report, indent=2))
    print("wrote", output)


if __name__ == "__main__":
    main()
