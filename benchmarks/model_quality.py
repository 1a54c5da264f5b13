"""Quality checks of the model issue at real scale: generation validity and fidelity against trivial baselines,
imputation against mean/interpolation, forecasting against seasonal-naive/last-value, metadata conditioning.

    python benchmarks/model_quality.py --dataset bike [--quick] [--output benchmarks/results/quality_bike.json]

Protocol (fixed seeds): the table is split in time per entity (first 80 % train, last 20 % test). The model is
trained on the train part with the default configuration (or `--quick`: fewer steps). Generation is compared with
real test windows (stride 1) in the processor's feature space; imputation hides 10 % of the observed continuous
cells of the test part; forecasting predicts the 24 steps after `--num-origins` origins in the test part from the
preceding 24 steps (median of 10 sample paths); errors are MAE divided by each column's training standard deviation
and averaged over the continuous non-metadata columns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DPMSolverMultistepScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_data import load  # noqa: E402

from timeautodiff_hf import TimeAutoDiffPipeline  # noqa: E402
from timeautodiff_hf.forecast_baseline import BASELINE_HISTORY_SEASONS  # noqa: E402
from timeautodiff_hf.metrics import autocorrelation_error, marginal_distances  # noqa: E402
from timeautodiff_hf.trainer import main as train  # noqa: E402
from timeautodiff_hf.trainer import parse_args  # noqa: E402

SEASONAL_PERIOD = {"h": 24, "D": 7, "B": 5, "MS": 12, "ME": 12}


def schema_flags(schema: dict) -> list[str]:
    flags = []
    for key in ("time_column", "entity_column"):
        if schema.get(key):
            flags += [f"--{key}", schema[key]]
    for key in ("metadata_columns", "static_columns"):
        if schema.get(key):
            flags += [f"--{key}", ",".join(schema[key])]
    if schema.get("missing_values"):
        flags += ["--missing_values", ",".join(f"{k}={v}" for k, v in schema["missing_values"].items())]
    return flags


def time_split(table: pd.DataFrame, schema: dict, test_fraction: float = 0.2):
    time_column, entity_column = schema.get("time_column"), schema.get("entity_column")
    groups = table.groupby(entity_column, sort=False) if entity_column else [(None, table)]
    train_parts, test_parts = [], []
    for _, group in groups:
        group = group.sort_values(time_column) if time_column else group
        cut = int(len(group) * (1 - test_fraction))
        train_parts.append(group.iloc[:cut])
        test_parts.append(group.iloc[cut:])
    return pd.concat(train_parts), pd.concat(test_parts)


def noise_table(real: pd.DataFrame, processor, rng: np.random.Generator) -> pd.DataFrame:
    """Independent Gaussian noise with each continuous column's mean/std; uniform categories."""
    noise = real.copy()
    for column in processor.columns:
        name = column["name"]
        if column["kind"] == "continuous":
            values = pd.to_numeric(real[name], errors="coerce")
            noise[name] = rng.normal(values.mean(), values.std(), len(real))
            if str(column["dtype"]).startswith("int"):
                noise[name] = noise[name].round().astype(column["dtype"])
        else:
            noise[name] = pd.Series(
                rng.choice(np.asarray(column["categories"], dtype=object), len(real)), index=real.index
            ).astype(real[name].dtype)
    return noise


def features(processor, table: pd.DataFrame, stride: int = 1) -> np.ndarray:
    batch = processor.encode(table, stride=stride)
    return processor.to_features(batch["values"], batch["observed_mask"])


def continuous_targets(processor) -> list[str]:
    return [c["name"] for c in processor.columns if c["kind"] == "continuous" and c["role"] == "feature"]


def evaluate_generation(pipe, real_test: pd.DataFrame, train_table: pd.DataFrame, num_windows: int, steps: int):
    processor = pipe.processor
    layout = processor.feature_layout()
    real_features = features(processor, real_test)
    rng = np.random.default_rng(0)
    real_features = real_features[rng.choice(len(real_features), min(num_windows, len(real_features)), replace=False)]
    started = time.perf_counter()
    windows = pipe(
        num_sequences=len(real_features),
        num_inference_steps=steps,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).frames
    sampling_seconds = time.perf_counter() - started
    observed = ~np.isnan(windows)
    synthetic_features = processor.to_features(np.nan_to_num(windows), observed)
    synthetic = processor.decode(np.nan_to_num(windows), observed_mask=observed)
    validity = {}
    for column in processor.columns:
        name = column["name"]
        values = synthetic[name].dropna()
        if column["kind"] == "continuous":
            validity[name] = bool(values.between(column["min"], column["max"]).all())
        else:
            validity[name] = bool(values.isin(column["categories"]).all())
    missing_error = {
        column["name"]: abs(float(synthetic[column["name"]].isna().mean()) - column["missing_rate"])
        for column in processor.columns
    }
    shuffled = real_test.copy()
    feature_columns = processor.column_names
    shuffled[feature_columns] = real_test[feature_columns].sample(frac=1.0, random_state=0).to_numpy()
    shuffled_features = features(processor, shuffled)[: len(real_features)]
    noise_features = features(processor, noise_table(real_test, processor, rng))[: len(real_features)]
    return {
        "num_windows": len(real_features),
        "sampling_seconds": round(sampling_seconds, 2),
        "all_values_valid": all(validity.values()),
        "validity_per_column": validity,
        "max_missing_rate_error": max(missing_error.values()),
        "missing_rate_error_per_column": missing_error,
        "autocorrelation_error": {
            "model": float(autocorrelation_error(real_features, synthetic_features, layout=layout)["mean"]),
            "row_shuffled_real": float(autocorrelation_error(real_features, shuffled_features, layout=layout)["mean"]),
        },
        "marginal_distance": {
            "model": float(marginal_distances(real_features, synthetic_features, layout)["mean"]),
            "gaussian_noise": float(marginal_distances(real_features, noise_features, layout)["mean"]),
        },
    }


def hidden_cells(test: pd.DataFrame, processor, seed: int = 1, fraction: float = 0.1) -> dict[str, np.ndarray]:
    """The imputation test's hidden cells: `fraction` of the observed continuous target cells, per column."""
    rng = np.random.default_rng(seed)
    hidden = {}
    for name in continuous_targets(processor):
        observed = test[name].notna().to_numpy(copy=True)
        sentinels = processor.missing_values.get(name)
        if sentinels:
            observed &= ~test[name].isin(sentinels).to_numpy()
        hidden[name] = observed & (rng.random(len(test)) < fraction)
    return hidden


def forecast_origins(series: pd.DataFrame, processor, schema: dict, num_origins: int, horizon: int, context: int):
    """Forecast origins evenly spread over `series`, keeping only those whose history and future lie on the regular
    time grid (no absent steps). Returns `(origins, seasonal_period)`."""
    period = SEASONAL_PERIOD.get(str(processor.frequency), horizon)
    lookback = max(context, period)
    candidates = np.arange(lookback, len(series) - horizon + 1)
    if schema.get("time_column"):
        step_ok = processor._is_next_step(series[schema["time_column"]].reset_index(drop=True)).astype(int)
        ok_before = np.concatenate([[0], np.cumsum(step_ok)])
        needed = lookback + horizon - 1
        candidates = np.array(
            [o for o in candidates if ok_before[o + horizon - 1] - ok_before[o - lookback] == needed]
        )
    picks = np.linspace(0, len(candidates) - 1, min(num_origins, len(candidates))).astype(int)
    return [int(origin) for origin in candidates[picks]], period


def training_scales(processor, train_table: pd.DataFrame, targets: list[str]) -> dict:
    """Each target's training standard deviation with missing-value sentinels as missing, as in the peers harness."""
    return {
        name: float(pd.to_numeric(processor._apply_missing_sentinels(train_table[name], name), errors="coerce").std())
        or 1.0
        for name in targets
    }


def evaluate_imputation(
    pipe, test: pd.DataFrame, train_table: pd.DataFrame, schema: dict, steps: int, num_samples: int = 10
):
    processor = pipe.processor
    targets = continuous_targets(processor)
    hidden = hidden_cells(test, processor)
    holes = test.copy()
    for name in targets:
        holes[name] = holes[name].astype(float).mask(hidden[name])
    started = time.perf_counter()
    filled = pipe.impute(
        holes, num_samples=num_samples, num_inference_steps=steps, generator=torch.Generator().manual_seed(0)
    )
    if num_samples > 1:
        filled = filled.attrs["point_estimate"]
    seconds = time.perf_counter() - started
    interpolated = holes.copy()
    for name in targets:
        clean = interpolated[name].astype(float)
        if processor.missing_values.get(name):
            clean = clean.mask(clean.isin(processor.missing_values[name]))
        if schema.get("entity_column"):
            clean = clean.groupby(holes[schema["entity_column"]]).transform(
                lambda s: s.interpolate(limit_direction="both")
            )
        else:
            clean = clean.interpolate(limit_direction="both")
        interpolated[name] = clean
    scores = {"model": [], "column_mean": [], "linear_interpolation": []}
    scales = training_scales(processor, train_table, targets)
    for name in targets:
        truth = test.loc[hidden[name], name].astype(float).to_numpy()
        train_values = pd.to_numeric(processor._apply_missing_sentinels(train_table[name], name), errors="coerce")
        scale = scales[name]
        scores["model"].append(np.abs(filled.loc[hidden[name], name].astype(float).to_numpy() - truth).mean() / scale)
        scores["column_mean"].append(np.abs(train_values.mean() - truth).mean() / scale)
        scores["linear_interpolation"].append(
            np.abs(interpolated.loc[hidden[name], name].to_numpy() - truth).mean() / scale
        )

    def kept(name: str) -> np.ndarray:
        """Cells given to `impute` as observed: not hidden, not NaN, not a missing-value sentinel (e.g. -200)."""
        sentinels = processor.missing_values.get(name) or []
        return (~hidden[name] & test[name].notna() & ~test[name].isin(sentinels)).to_numpy()

    observed_unchanged = all(
        filled.loc[kept(name), name].astype(float).equals(test.loc[kept(name), name].astype(float)) for name in targets
    )
    return {
        # a column without hidden cells (missing throughout the test part) has no error: left out of the mean
        "normalised_mae": {key: float(np.nanmean(value)) for key, value in scores.items()},
        "per_column": {key: dict(zip(targets, np.round(value, 4).tolist())) for key, value in scores.items()},
        "observed_cells_unchanged": bool(observed_unchanged),
        "num_hidden_cells": int(sum(h.sum() for h in hidden.values())),
        "seconds": round(seconds, 2),
    }


def evaluate_forecast(
    pipe,
    test: pd.DataFrame,
    train_table: pd.DataFrame,
    schema: dict,
    num_origins: int,
    steps: int,
    horizon: int = 24,
    context: int = 24,
):
    processor = pipe.processor
    targets = continuous_targets(processor)
    series = test if not schema.get("entity_column") else next(iter(test.groupby(schema["entity_column"])))[1]
    series = series.sort_values(schema["time_column"]) if schema.get("time_column") else series
    series = series.reset_index(drop=True)
    # Errors and baselines on values: a missing-value sentinel (AirQuality's -200 outages) is missing, not a value to
    # forecast or to copy forward.
    values = series.copy()
    for name in targets:
        values[name] = processor._apply_missing_sentinels(series[name], name).astype(float)
    origins, period = forecast_origins(series, processor, schema, num_origins, horizon, context)
    errors = {"model": [], "seasonal_naive": [], "last_value": []}
    scales = training_scales(processor, train_table, targets)
    with_metadata = []
    started = time.perf_counter()
    # the model reads the last `context` steps; the forecast calibration's baselines up to 8 seasons (Holt-Winters)
    history_length = max(context, BASELINE_HISTORY_SEASONS * period)
    for index, origin in enumerate(origins):
        history = series.iloc[max(0, origin - history_length) : origin]
        truth = series.iloc[origin : origin + horizon]
        forecast = pipe.forecast(
            history,
            horizon=horizon,
            num_samples=10,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(int(index)),
        )
        group_key = schema.get("time_column") or "step"
        median = forecast.groupby(group_key, sort=True)[targets].median()
        metadata_forecast = None
        if processor.metadata_columns:
            columns = [c for c in [schema.get("time_column"), schema.get("entity_column")] if c]
            future = truth[columns + processor.metadata_columns]
            metadata_forecast = pipe.forecast(
                history,
                horizon=horizon,
                metadata_future=future,
                num_samples=10,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(int(index)),
            )
            metadata_forecast = metadata_forecast.groupby(group_key, sort=True)[targets].median()
        for name in targets:
            scale = scales[name]
            true_values = values[name].iloc[origin : origin + horizon].to_numpy()
            history_values = values[name].iloc[origin - context : origin].dropna()
            if np.isnan(true_values).all() or history_values.empty:
                continue
            seasonal = np.resize(values[name].iloc[max(0, origin - period) : origin].to_numpy()[-period:], horizon)
            last = np.full(horizon, history_values.iloc[-1])
            errors["model"].append(np.nanmean(np.abs(median[name].to_numpy() - true_values)) / scale)
            # an all-missing season of history leaves the seasonal naive without a value: not counted
            errors["seasonal_naive"].append(np.nanmean(np.abs(seasonal - true_values)) / scale)
            errors["last_value"].append(np.nanmean(np.abs(last - true_values)) / scale)
            if metadata_forecast is not None:
                with_metadata.append(np.nanmean(np.abs(metadata_forecast[name].to_numpy() - true_values)) / scale)
    result = {key: float(np.nanmean(value)) for key, value in errors.items()}
    if with_metadata:
        result["model_with_known_future_metadata"] = float(np.mean(with_metadata))
    return {
        "normalised_mae": result,
        "num_origins": len(origins),
        "horizon": horizon,
        "seasonal_period": period,
        "seconds": round(time.perf_counter() - started, 2),
    }


def evaluate_conditioning(pipe, table: pd.DataFrame, target: str, contrast: tuple, steps: int, num_scenarios: int):
    """Generated target mean under metadata value a vs b, against the real difference (same calendar hours)."""
    column, value_a, value_b = contrast
    processor = pipe.processor
    metadata = processor.metadata_columns
    real_difference = float(
        table.loc[table[column] == value_b, target].mean() - table.loc[table[column] == value_a, target].mean()
    )
    rng = np.random.default_rng(2)
    starts = rng.choice(len(table) - processor.sequence_length, num_scenarios, replace=False)
    means = {value_a: [], value_b: []}
    for index, start in enumerate(starts):
        base = table.iloc[start : start + processor.sequence_length]
        columns = [processor.time_column] if processor.time_column else []
        scenario = base[columns + metadata].reset_index(drop=True)
        for value in (value_a, value_b):
            edited = scenario.copy()
            edited[column] = pd.Series([value] * len(edited), dtype=table[column].dtype)
            generated = pipe.generate(
                num_sequences=8,
                metadata=edited,
                num_inference_steps=steps,
                generator=torch.Generator().manual_seed(int(index)),
            )
            means[value].append(float(generated[target].astype(float).mean()))
    generated_difference = float(np.mean(means[value_b]) - np.mean(means[value_a]))
    return {
        "column": column,
        "from": value_a,
        "to": value_b,
        "target": target,
        "real_difference": real_difference,
        "generated_difference": generated_difference,
        "same_direction": bool(np.sign(real_difference) == np.sign(generated_difference)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bike")
    parser.add_argument("--quick", action="store_true", help="Few training steps: a smoke run of the harness.")
    parser.add_argument("--output", default=None)
    parser.add_argument("--run-dir", default=None, help="Where the model is trained (default benchmarks/runs/NAME).")
    parser.add_argument("--reuse-model", action="store_true", help="Skip training when the run folder has a model.")
    parser.add_argument("--num-windows", type=int, default=1000)
    parser.add_argument("--num-origins", type=int, default=40)
    parser.add_argument("--num-scenarios", type=int, default=20)
    parser.add_argument("--inference-steps", type=int, default=20, help="DPM-Solver++ steps for every task.")
    parser.add_argument("--extra-train-flags", default="", help="Extra training flags, space separated.")
    parser.add_argument(
        "--device",
        default="cpu",
        help="Where the pipeline samples (cpu, cuda). Training runs where accelerate puts it (a GPU when one is "
        "visible); the JSON records both.",
    )
    options = parser.parse_args()
    root = Path(__file__).resolve().parent
    run_dir = Path(options.run_dir or root / "runs" / options.dataset)
    output = Path(
        options.output or root / "results" / f"quality_{options.dataset}{'_quick' if options.quick else ''}.json"
    )
    table, schema, target, contrast = load(options.dataset)
    train_table, test_table = time_split(table, schema)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_path = run_dir / "train.parquet"
    train_table.to_parquet(train_path, index=False)
    steps = ["--vae_steps", "60", "--denoiser_steps", "60"] if options.quick else []
    started = time.perf_counter()
    if not (options.reuse_model and (run_dir / "model" / "model_index.json").is_file()):
        train(
            parse_args(
                [
                    "--train_file",
                    str(train_path),
                    *schema_flags(schema),
                    "--output_dir",
                    str(run_dir / "model"),
                    *steps,
                    *options.extra_train_flags.split(),
                ]
            )
        )
    train_seconds = time.perf_counter() - started
    record = json.loads((run_dir / "model" / "training_args.json").read_text())
    train_seconds = record.get("train_seconds", train_seconds)
    pipe = TimeAutoDiffPipeline.from_pretrained(run_dir / "model").to(options.device)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    report = {
        "dataset": options.dataset,
        "quick": options.quick,
        "train_seconds": round(train_seconds, 1),
        "train_device": record.get("device_name", "not recorded"),
        "sample_device": torch.cuda.get_device_name() if options.device.startswith("cuda") else options.device,
        "rows_train": len(train_table),
        "rows_test": len(test_table),
        "inference": f"DPMSolverMultistepScheduler, {options.inference_steps} steps",
    }
    report["generation"] = evaluate_generation(
        pipe, test_table, train_table, options.num_windows, options.inference_steps
    )
    report["imputation"] = evaluate_imputation(pipe, test_table, train_table, schema, options.inference_steps)
    report["forecast"] = evaluate_forecast(
        pipe, test_table, train_table, schema, 4 if options.quick else options.num_origins, options.inference_steps
    )
    if contrast is not None:
        report["conditioning"] = evaluate_conditioning(
            pipe, test_table, target, contrast, options.inference_steps, 3 if options.quick else options.num_scenarios
        )
    if torch.cuda.is_initialized():
        # training and evaluation run in this process: the peak of both
        report["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=float))
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
