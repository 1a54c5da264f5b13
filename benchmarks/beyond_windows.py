"""Beyond fixed windows on real data: seams of long generation, static conditioning, constraints, missingness.

    python benchmarks/beyond_windows.py [--quick] [--output benchmarks/results/beyond_windows.json]

1. Seams (bike sharing, `benchmarks/runs/bike/model`, window 24): sequences of 720 steps are generated window by
   window. The pipeline generates steps 0..23 from scratch, then continues with the forecast mask keeping
   `context = window // 2` steps as observed cells and adding `chunk = window - context` new steps per call, so
   new chunks start (joins) at steps 24, 36, ..., 708. Windows of 24 steps centred on a join (`[j - 12, j + 12)`),
   the same restricted to the last third of the sequence (drift), the first window of each long sequence and
   independent 24-step sequences (one denoising call each: no join) are compared with real test windows (stride 1)
   by autocorrelation error and discriminative score; one-step jumps of the continuous columns (model space, i.e.
   scaled units) at joins are compared with jumps inside chunks and in real data.
2. Static conditioning (PhysioNet 2012 set A, static `ICUType`, `Gender`, `Age`; time-varying HR, MAP, SysABP,
   Temp, Urine; each stay cut after its last hour with any recorded variable, so entity lengths vary): a model is
   trained with `--static_columns` under a fixed CPU budget, then `generate(static=...)` with ICUType 1 (coronary
   care) and 3 (medical ICU); generated per-column mean differences are compared with the real ones. Also: static
   columns constant per sequence (returned frame and raw model output), and `sequence_length="data"` lengths.
3. Constraints (bike): violation rates without and with `constraints=` (same seed), and the fidelity cost.
4. Missingness (pm25, `benchmarks/runs/pm25/model`): per-column missing rate with `missing="as_data"` vs real,
   mean length of missing runs, and no NaN with `missing="none"`.

`--quick` trains three tiny models on small slices of the same data in a temporary folder (a smoke test of the
harness, numbers meaningless). Sampling uses DPM-Solver++ (`--inference-steps`, default 20).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DPMSolverMultistepScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_data import load, shared_data_dir  # noqa: E402

from timeautodiff_hf import TimeAutoDiffPipeline  # noqa: E402
from timeautodiff_hf.constraints import constraint_violations  # noqa: E402
from timeautodiff_hf.metrics import autocorrelation_error, discriminative_score, marginal_distances  # noqa: E402
from timeautodiff_hf.trainer import main as train  # noqa: E402
from timeautodiff_hf.trainer import parse_args  # noqa: E402

ROOT = Path(__file__).resolve().parent
TINY_FLAGS = (
    "--sequence_length 8 --vae_hidden_size 16 --denoiser_hidden_size 16 --denoiser_layers 1 --num_heads 2 "
    "--latent_dim 3 --vae_steps 40 --denoiser_steps 40 --batch_size 16 --validation_steps 20 --num_train_timesteps 100"
).split()
PHYSIONET_SERIES = ["HR", "MAP", "SysABP", "Temp", "Urine"]
PHYSIONET_STATIC = ["ICUType", "Gender", "Age"]
BIKE_CONSTRAINTS = {
    "casual": {"non_negative": True, "integer": True},
    "registered": {"non_negative": True, "integer": True},
    "cnt": {"non_negative": True, "integer": True, "sum_of": ["casual", "registered"]},
    "temp": {"min": 0.0, "max": 1.0, "decimals": 2},
    "atemp": {"min": 0.0, "max": 1.0, "decimals": 4},
    "hum": {"min": 0.0, "max": 1.0, "decimals": 2},
    "windspeed": {"min": 0.0, "max": 1.0, "decimals": 4},
}


# ---------------------------------------------------------------------- helpers
def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def load_pipeline(folder: Path, steps_scheduler: bool = True) -> TimeAutoDiffPipeline:
    pipe = TimeAutoDiffPipeline.from_pretrained(folder)
    if steps_scheduler:
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def train_model(train_path: Path, output_dir: Path, flags: list[str]) -> float:
    started = time.perf_counter()
    train(parse_args(["--train_file", str(train_path), "--output_dir", str(output_dir), *flags]))
    return time.perf_counter() - started


def time_split(table: pd.DataFrame, fraction: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(table) * fraction)
    return table.iloc[:cut], table.iloc[cut:]


def mean_std(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": [float(v) for v in values]}


def frame_features(processor, frame: pd.DataFrame, length: int) -> np.ndarray:
    """A generated long frame (sequences of `length` consecutive rows) -> feature-space windows."""
    values, mask = processor.encode_cells(frame.drop(columns=["sequence_id", "sample"], errors="ignore"))
    shape = (len(frame) // length, length, processor.num_columns)
    return processor.to_features(values.reshape(shape), mask.reshape(shape))


def known_rows(processor, table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose categorical cells are all known to the processor (e.g. bike's rare `weathersit` 4)."""
    keep = pd.Series(True, index=table.index)
    for column in processor.columns:
        if column["kind"] != "continuous" and column["name"] in table.columns:
            known = {str(value) for value in column["categories"]}
            keep &= table[column["name"]].isna() | table[column["name"]].astype(str).isin(known)
    return table[keep]


def real_windows(processor, table: pd.DataFrame) -> np.ndarray:
    batch = processor.encode(known_rows(processor, table), stride=1)
    return processor.to_features(batch["values"], batch["observed_mask"])


def compare(real: np.ndarray, synthetic: np.ndarray, layout, repeats: int, disc_steps: int, max_windows: int):
    """Autocorrelation error over `repeats` balanced subsamples and the discriminative score (mean ± std)."""
    count = min(len(real), len(synthetic), max_windows)
    acf = []
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        r = real[rng.choice(len(real), count, replace=False)]
        s = synthetic[rng.choice(len(synthetic), count, replace=False)]
        acf.append(autocorrelation_error(r, s, layout=layout)["mean"])
    disc = discriminative_score(real, synthetic, num_repeats=repeats, num_steps=disc_steps, max_windows=max_windows)
    return {
        "num_windows": int(count),
        "autocorrelation_error": mean_std(acf),
        "discriminative_score": {"mean": disc["mean"], "std": disc["std"], "values": disc["scores"]},
    }


def continuous_indices(processor) -> list[int]:
    return [i for i, c in enumerate(processor.columns) if c["kind"] == "continuous"]


# ---------------------------------------------------------------------- 1. seams
def join_positions(window: int, length: int, context_fraction: float = 0.5) -> list[int]:
    """Steps where `_generate_sequences`/`_continue_sequences` start a new chunk (first step of each chunk)."""
    first = min(length, window)
    context = max(1, min(int(window * context_fraction), first))
    return list(range(window, length, window - context))


def join_steps(values: np.ndarray, window: int, joins: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    One-step absolute changes of `(n, length, c)` values (index t-1 holds the step t-1 -> t), a mask of the steps
    into a join, and a mask of the steps inside continuation chunks (the first window has no chunk structure).
    """
    steps = np.abs(np.diff(values, axis=1))
    at_join = np.zeros(values.shape[1] - 1, dtype=bool)
    at_join[[j - 1 for j in joins]] = True
    inside = ~at_join
    inside[: window - 1] = False
    return steps, at_join, inside


def evaluate_seams(pipe, real_table, options, plot_path: Path | None) -> dict:
    processor = pipe.processor
    window = processor.sequence_length
    length = window * options.seam_windows
    layout = processor.feature_layout()
    started = time.perf_counter()
    values = pipe(
        num_sequences=options.seam_sequences,
        sequence_length=length,
        num_inference_steps=options.inference_steps,
        output_type="np",
        missing="none",
        generator=seeded(0),
    ).frames
    long_seconds = time.perf_counter() - started
    joins = join_positions(window, length)
    half = window // 2
    context = window - (joins[1] - joins[0]) if len(joins) > 1 else half
    features = processor.to_features(values)
    straddle = np.concatenate([features[:, j - half : j + half] for j in joins])
    late = [j for j in joins if j >= 2 * length // 3]
    straddle_late = np.concatenate([features[:, j - half : j + half] for j in late])
    first_window = features[:, :window]
    single = pipe(
        num_sequences=options.single_windows,
        num_inference_steps=options.inference_steps,
        output_type="np",
        missing="none",
        generator=seeded(1),
    ).frames
    single = processor.to_features(single)
    real = real_windows(processor, real_table)
    sets = {
        "windows_centred_on_a_join": straddle,
        "windows_centred_on_a_join_last_third": straddle_late,
        "first_window_of_long_sequences": first_window,
        "independent_single_windows": single,
    }
    comparisons = {
        name: compare(real, synthetic, layout, options.repeats, options.disc_steps, options.max_windows)
        for name, synthetic in sets.items()
    }
    # Real-vs-real reference: two disjoint halves of the real test windows (what "indistinguishable" looks like).
    rng = np.random.default_rng(3)
    order = rng.permutation(len(real))
    comparisons["real_vs_real_reference"] = compare(
        real[order[: len(order) // 2]],
        real[order[len(order) // 2 :]],
        layout,
        options.repeats,
        options.disc_steps,
        options.max_windows,
    )
    # One-step jumps of continuous columns in model space.
    continuous = continuous_indices(processor)
    names = [processor.columns[i]["name"] for i in continuous]
    steps, at_join, inside = join_steps(values[..., continuous], window, joins)
    batch = processor.encode(known_rows(processor, real_table), stride=1)
    real_steps = np.abs(np.diff(batch["values"][..., continuous], axis=1))
    first_steps = steps[:, : window - 1]
    jumps = {
        "columns": names,
        "at_joins": steps[:, at_join].mean(axis=(0, 1)).tolist(),
        "inside_continuation_chunks": steps[:, inside].mean(axis=(0, 1)).tolist(),
        "inside_first_window": first_steps.mean(axis=(0, 1)).tolist(),
        "real": real_steps.mean(axis=(0, 1)).tolist(),
    }
    for key in ("at_joins", "inside_continuation_chunks", "inside_first_window", "real"):
        jumps[f"{key}_mean"] = float(np.mean(jumps[key]))
    # Bootstrap over sequences: is the join jump different from the inside-chunk jump?
    per_sequence = steps[:, at_join].mean(axis=(1, 2)) - steps[:, inside].mean(axis=(1, 2))
    jumps["join_minus_inside_per_sequence"] = {
        "mean": float(per_sequence.mean()),
        "std": float(per_sequence.std()),
        "share_of_sequences_positive": float((per_sequence > 0).mean()),
    }
    jumps["ratio_join_to_inside"] = jumps["at_joins_mean"] / jumps["inside_continuation_chunks_mean"]
    disc_join = comparisons["windows_centred_on_a_join"]["discriminative_score"]
    disc_single = comparisons["independent_single_windows"]["discriminative_score"]
    gap = disc_join["mean"] - disc_single["mean"]
    noise = np.hypot(disc_join["std"], disc_single["std"])
    verdict = {
        "discriminative_gap_join_minus_single": float(gap),
        "gap_within_2_std": bool(abs(gap) <= 2 * noise + 1e-12),
        "jump_ratio_join_to_inside": float(jumps["ratio_join_to_inside"]),
    }
    verdict["joins_distinguishable"] = bool(
        not verdict["gap_within_2_std"] or abs(np.log(verdict["jump_ratio_join_to_inside"])) > np.log(1.25)
    )
    if plot_path is not None:
        plot_long_sequence(values[0], processor, joins, plot_path)
    return {
        "model": str(options.bike_model),
        "window": window,
        "context": int(context),
        "chunk": int(joins[1] - joins[0]) if len(joins) > 1 else None,
        "sequence_length": length,
        "num_sequences": options.seam_sequences,
        "join_positions": joins,
        "long_generation_seconds": round(long_seconds, 2),
        "num_real_windows": int(len(real)),
        "comparisons": comparisons,
        "one_step_jumps_scaled": jumps,
        "verdict": verdict,
    }


def plot_long_sequence(values: np.ndarray, processor, joins: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c["name"] for c in processor.columns if c["kind"] == "continuous" and c["role"] == "feature"]
    names = names or [c["name"] for c in processor.columns if c["kind"] == "continuous"]
    frame = processor.decode(values[None], observed_mask=np.ones_like(values[None]))
    shown = min(len(values), 240)
    figure, axes = plt.subplots(len(names), 1, figsize=(12, 2.2 * len(names)), sharex=True, squeeze=False)
    for axis, name in zip(axes[:, 0], names):
        axis.plot(np.arange(shown), frame[name].to_numpy()[:shown], lw=1)
        for j in joins:
            if j < shown:
                axis.axvline(j - 0.5, color="red", lw=0.6, alpha=0.6)
        axis.set_ylabel(name)
    axes[0, 0].set_title(f"Generated long sequence (first {shown} steps); red lines: starts of continuation chunks")
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ---------------------------------------------------------------------- 2. static conditioning
def load_physionet(max_patients: int | None = None) -> pd.DataFrame:
    table = pd.read_csv(shared_data_dir() / "physionet2012" / "physionet2012_seta_hourly.csv.gz")
    descriptors = {"RecordID", "hour", "Age", "Gender", "Height", "ICUType", "Weight_admit"}
    variables = [c for c in table.columns if c not in descriptors]
    recorded = table[variables].notna().any(axis=1)
    last_hour = table[recorded].groupby("RecordID")["hour"].max()
    table = table[table["RecordID"].isin(last_hour.index) & table["Gender"].notna()]
    table = table[table["hour"] <= table["RecordID"].map(last_hour)]
    if max_patients is not None:
        keep = np.sort(table["RecordID"].unique())[:max_patients]
        table = table[table["RecordID"].isin(keep)]
    table = table.sort_values(["RecordID", "hour"])
    table = table[["RecordID", *PHYSIONET_STATIC, *PHYSIONET_SERIES]].reset_index(drop=True)
    table["ICUType"] = table["ICUType"].astype("int64")
    table["Gender"] = table["Gender"].astype("int64")
    return table


def physionet_flags(quick: bool, budget_minutes: float, vae_steps: int, denoiser_steps: int) -> list[str]:
    flags = ["--entity_column", "RecordID", "--static_columns", ",".join(PHYSIONET_STATIC)]
    flags += ["--column_kinds", "ICUType=categorical"]
    if quick:
        return flags + TINY_FLAGS
    return flags + [
        "--vae_steps",
        str(vae_steps),
        "--denoiser_steps",
        str(denoiser_steps),
        "--max_train_minutes",
        str(budget_minutes),
    ]


def evaluate_static(pipe, table: pd.DataFrame, options, train_seconds: float | None) -> dict:
    processor = pipe.processor
    value_a, value_b = 1, 3
    count = options.static_sequences
    length = 48 if not options.quick else processor.sequence_length * 2
    draws = {}
    for index, value in enumerate((value_a, value_b)):
        draws[value] = pipe.generate(
            num_sequences=count,
            sequence_length=length,
            static=pd.DataFrame({"ICUType": [value]}),
            num_inference_steps=options.inference_steps,
            # Means over generated observed cells: with missing="none" the cells the model would leave missing get
            # values from an untrained part of the decoder (e.g. Temp mean 15 degC instead of 37; see RESULTS.md).
            missing="as_data",
            generator=seeded(10 + index),
        )
    rows = []
    for name in PHYSIONET_SERIES:
        real_a = table.loc[table["ICUType"] == value_a, name].mean()
        real_b = table.loc[table["ICUType"] == value_b, name].mean()
        generated_a = draws[value_a][name].astype(float).mean()
        generated_b = draws[value_b][name].astype(float).mean()
        # Bootstrap over generated sequences for an uncertainty of the generated difference.
        rng = np.random.default_rng(0)
        per_a = draws[value_a].groupby("sequence_id")[name].mean().to_numpy()
        per_b = draws[value_b].groupby("sequence_id")[name].mean().to_numpy()
        boot = [
            np.nanmean(rng.choice(per_b, len(per_b))) - np.nanmean(rng.choice(per_a, len(per_a))) for _ in range(500)
        ]
        real_difference = float(real_b - real_a)
        generated_difference = float(generated_b - generated_a)
        rows.append(
            {
                "column": name,
                "real_mean_icu1": float(real_a),
                "real_mean_icu3": float(real_b),
                "generated_mean_icu1": float(generated_a),
                "generated_mean_icu3": float(generated_b),
                "real_difference": real_difference,
                "generated_difference": generated_difference,
                "generated_difference_bootstrap_std": float(np.std(boot)),
                "same_sign": bool(np.sign(real_difference) == np.sign(generated_difference)),
                "ratio_generated_to_real": generated_difference / real_difference if real_difference else None,
                "real_column_std": float(table[name].std()),
            }
        )
    given_back = all((draws[v]["ICUType"] == v).all() for v in draws)
    # Unconditional generation: are generated static columns constant per sequence?
    free = pipe.generate(
        num_sequences=count,
        sequence_length=length,
        num_inference_steps=options.inference_steps,
        missing="none",
        generator=seeded(20),
    )
    constant = {name: bool((free.groupby("sequence_id")[name].nunique() == 1).all()) for name in PHYSIONET_STATIC}
    raw = pipe(
        num_sequences=count,
        sequence_length=length,
        num_inference_steps=options.inference_steps,
        output_type="np",
        missing="none",
        generator=seeded(20),
    ).frames
    raw_change = {}
    for index in processor.static_indices:
        column = processor.columns[index]
        track = raw[..., index]
        if column["kind"] == "continuous":
            raw_change[column["name"]] = {
                "within_sequence_std_scaled": float(track.std(axis=1).mean()),
                "between_sequence_std_scaled": float(track.mean(axis=1).std()),
            }
        else:
            codes = np.rint(track) if column["kind"] == "categorical" else track > 0.5
            raw_change[column["name"]] = {
                "share_of_sequences_not_constant": float((codes != codes[:, :1]).any(axis=1).mean())
            }
    # Generated static marginals vs real (per entity).
    entities = table.groupby("RecordID").first()
    per_sequence = free.groupby("sequence_id").first()
    static_marginals = {
        "ICUType_share_real": {int(k): float(v) for k, v in entities["ICUType"].value_counts(normalize=True).items()},
        "ICUType_share_generated": {
            int(k): float(v) for k, v in per_sequence["ICUType"].value_counts(normalize=True).items()
        },
        "Gender_share_1_real": float(entities["Gender"].mean()),
        "Gender_share_1_generated": float(per_sequence["Gender"].astype(float).mean()),
        "Age_mean_real": float(entities["Age"].mean()),
        "Age_mean_generated": float(per_sequence["Age"].astype(float).mean()),
    }
    # Data-driven lengths.
    by_data = pipe.generate(
        num_sequences=options.length_sequences,
        sequence_length="data",
        num_inference_steps=options.inference_steps,
        missing="none",
        generator=seeded(30),
    )
    generated_lengths = by_data.groupby("sequence_id").size().to_numpy()
    real_lengths = table.groupby("RecordID").size().to_numpy()
    quantiles = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    return {
        "dataset": "physionet2012 set A (stays cut after the last recorded hour)",
        "num_patients": int(table["RecordID"].nunique()),
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
        "contrast": {"column": "ICUType", "from": value_a, "to": value_b},
        "num_sequences_per_value": count,
        "sequence_length": length,
        "per_column": rows,
        "num_same_sign": int(sum(row["same_sign"] for row in rows)),
        "given_static_returned_exactly": bool(given_back),
        "static_constant_per_sequence": constant,
        "raw_model_output_static_change": raw_change,
        "static_marginals": static_marginals,
        "lengths": {
            "quantiles": quantiles,
            "real": np.quantile(real_lengths, quantiles).tolist(),
            "generated": np.quantile(generated_lengths, quantiles).tolist(),
            "real_mean": float(real_lengths.mean()),
            "generated_mean": float(generated_lengths.mean()),
            "share_shorter_than_48_real": float((real_lengths < 48).mean()),
            "share_shorter_than_48_generated": float((generated_lengths < 48).mean()),
            "num_generated": int(len(generated_lengths)),
        },
    }


# ---------------------------------------------------------------------- 3. constraints
def evaluate_constraints(pipe, real_table, options) -> dict:
    processor = pipe.processor
    rules = {k: v for k, v in BIKE_CONSTRAINTS.items() if k in processor.column_names}
    window = processor.sequence_length
    layout = processor.feature_layout()
    common = dict(num_sequences=options.constraint_sequences, num_inference_steps=options.inference_steps)
    started = time.perf_counter()
    free = pipe.generate(**common, generator=seeded(40))
    free_seconds = time.perf_counter() - started
    started = time.perf_counter()
    constrained = pipe.generate(**common, constraints=rules, generator=seeded(40))
    constrained_seconds = time.perf_counter() - started
    before = constraint_violations(free, rules, "sequence_id")
    after = constraint_violations(constrained, rules, "sequence_id")
    real_violations = constraint_violations(real_table, rules, None)
    real = real_windows(processor, real_table)
    fidelity = {}
    for name, frame in (("unconstrained", free), ("constrained", constrained)):
        synthetic = frame_features(processor, frame, window)
        result = compare(real, synthetic, layout, options.repeats, options.disc_steps, options.max_windows)
        result["marginal_distance"] = float(marginal_distances(real, synthetic, layout)["mean"])
        result["marginal_distance_continuous"] = float(marginal_distances(real, synthetic, layout)["continuous_mean"])
        fidelity[name] = result
    changed = {name: float((free[name].astype(float) != constrained[name].astype(float)).mean()) for name in rules}
    return {
        "constraints": rules,
        "num_sequences": options.constraint_sequences,
        "violation_rate_real": real_violations,
        "violation_rate_unconstrained": before,
        "violation_rate_constrained": after,
        "max_violation_rate_constrained": max(after.values()),
        "share_of_cells_changed": changed,
        "max_abs_change_cnt": float((free["cnt"].astype(float) - constrained["cnt"].astype(float)).abs().max())
        if "cnt" in rules
        else None,
        "fidelity": fidelity,
        "seconds": {"unconstrained": round(free_seconds, 2), "constrained": round(constrained_seconds, 2)},
    }


# ---------------------------------------------------------------------- 4. missingness
def missing_runs(mask: np.ndarray) -> float:
    """Mean length of runs of missing cells along time; `mask` is `(n, length)` booleans (True = missing)."""
    runs = []
    for row in mask:
        count = 0
        for cell in row:
            if cell:
                count += 1
            elif count:
                runs.append(count)
                count = 0
        if count:
            runs.append(count)
    return float(np.mean(runs)) if runs else float("nan")


def evaluate_missing(pipe, real_table, options) -> dict:
    processor = pipe.processor
    window = processor.sequence_length
    count = options.missing_sequences
    as_data = pipe.generate(
        num_sequences=count, num_inference_steps=options.inference_steps, missing="as_data", generator=seeded(50)
    )
    complete = pipe.generate(
        num_sequences=count, num_inference_steps=options.inference_steps, missing="none", generator=seeded(50)
    )
    names = processor.column_names
    batch = processor.encode(known_rows(processor, real_table), stride=window)
    real_missing = batch["observed_mask"] < 0.5
    rows = []
    for index, name in enumerate(names):
        generated_mask = as_data[name].isna().to_numpy().reshape(count, -1)
        rows.append(
            {
                "column": name,
                "real_rate_table": float(real_table[name].isna().mean()),
                "training_rate": float(processor.columns[index].get("missing_rate") or 0.0),
                "generated_rate_as_data": float(generated_mask.mean()),
                "generated_rate_none": float(complete[name].isna().mean()),
                "real_mean_missing_run_in_windows": missing_runs(real_missing[..., index]),
                "generated_mean_missing_run": missing_runs(generated_mask),
                "real_share_windows_with_missing": float(real_missing[..., index].any(axis=1).mean()),
                "generated_share_windows_with_missing": float(generated_mask.any(axis=1).mean()),
            }
        )
    return {
        "model": str(options.pm25_model),
        "num_sequences": count,
        "window": window,
        "per_column": rows,
        "nan_cells_with_missing_none": int(complete[names].isna().sum().sum()),
    }


# ---------------------------------------------------------------------- driver
def quick_models(folder: Path) -> dict:
    """Three tiny models on small real slices (seconds each)."""
    bike, bike_schema, _, _ = load("bike")
    bike = bike.iloc[:600]
    pm25, pm25_schema, _, _ = load("pm25")
    pm25 = pm25.iloc[:600]
    physio = load_physionet(max_patients=40)
    paths = {}
    for name, table, flags in (
        ("bike", bike, ["--time_column", "datetime", "--metadata_columns", ",".join(bike_schema["metadata_columns"])]),
        (
            "pm25",
            pm25,
            ["--time_column", "date", "--metadata_columns", ",".join(pm25_schema["metadata_columns"])]
            + ["--column_kinds", ",".join(f"{name}=continuous" for name in ("DEWP", "TEMP", "PRES", "Is", "Ir"))],
        ),
        ("physionet", physio, physionet_flags(True, 0, 0, 0)),
    ):
        data_path = folder / f"{name}.parquet"
        table.to_parquet(data_path, index=False)
        extra = flags if name == "physionet" else flags + TINY_FLAGS
        train_model(data_path, folder / name, extra)
        paths[name] = folder / name
    return paths


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Tiny models on small slices: a smoke run (< 2 min).")
    parser.add_argument("--output", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--bike-model", default=str(ROOT / "runs" / "bike" / "model"))
    parser.add_argument("--pm25-model", default=str(ROOT / "runs" / "pm25" / "model"))
    parser.add_argument("--physionet-run", default=str(ROOT / "runs" / "physionet_static"))
    parser.add_argument("--reuse-model", action="store_true", help="Reuse a trained PhysioNet model if present.")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="PhysioNet training budget (wall clock).")
    parser.add_argument("--vae-steps", type=int, default=1000)
    parser.add_argument("--denoiser-steps", type=int, default=2000)
    parser.add_argument("--inference-steps", type=int, default=20)
    parser.add_argument("--parts", default="seams,static,constraints,missing")
    options = parser.parse_args(argv)
    quick = options.quick
    options.seam_sequences = 8 if quick else 100
    options.seam_windows = 6 if quick else 30
    options.single_windows = 40 if quick else 1000
    options.static_sequences = 10 if quick else 300
    options.length_sequences = 20 if quick else 1000
    options.constraint_sequences = 20 if quick else 1000
    options.missing_sequences = 20 if quick else 1000
    options.repeats = 2 if quick else 3
    options.disc_steps = 20 if quick else 400
    options.max_windows = 200 if quick else 1000
    if quick:
        options.inference_steps = min(options.inference_steps, 3)
    parts = set(options.parts.split(","))
    output = Path(options.output or ROOT / "results" / f"beyond_windows{'_quick' if quick else ''}.json")
    plot_path = Path(options.plot) if options.plot else (None if quick else ROOT / "results" / "beyond_windows.png")
    torch.manual_seed(0)
    report = {"quick": quick, "inference": f"DPMSolverMultistepScheduler, {options.inference_steps} steps"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        physionet_train_seconds = None
        if quick:
            paths = quick_models(Path(scratch))
            options.bike_model, options.pm25_model = paths["bike"], paths["pm25"]
            physionet_model = paths["physionet"]
            physio = load_physionet(max_patients=40)
        else:
            physio = load_physionet()
            run = Path(options.physionet_run)
            physionet_model = run / "model"
            if "static" in parts and not (options.reuse_model and (physionet_model / "model_index.json").is_file()):
                run.mkdir(parents=True, exist_ok=True)
                physio.to_parquet(run / "train.parquet", index=False)
                flags = physionet_flags(False, options.budget_minutes, options.vae_steps, options.denoiser_steps)
                physionet_train_seconds = train_model(run / "train.parquet", physionet_model, flags)
            elif (physionet_model / "training_args.json").is_file():
                physionet_train_seconds = json.loads((physionet_model / "training_args.json").read_text()).get(
                    "train_seconds"
                )
        bike_table, _, _, _ = load("bike")
        bike_test = bike_table.iloc[:600] if quick else time_split(bike_table)[1]
        if parts & {"seams", "constraints"}:
            bike = load_pipeline(Path(options.bike_model))
        if "seams" in parts:
            report["seams"] = evaluate_seams(bike, bike_test, options, plot_path)
        if "static" in parts:
            if physionet_train_seconds is not None and not quick:
                args = json.loads((physionet_model / "training_args.json").read_text())["args"]
                report["static_training"] = {
                    "budget_minutes": args.get("max_train_minutes"),
                    "vae_steps": args.get("vae_steps"),
                    "denoiser_steps": args.get("denoiser_steps"),
                    "threads": torch.get_num_threads(),
                }
            report["static"] = evaluate_static(
                load_pipeline(physionet_model), physio, options, physionet_train_seconds
            )
        if "constraints" in parts:
            report["constraints"] = evaluate_constraints(bike, bike_test, options)
        if "missing" in parts:
            pm25_table, _, _, _ = load("pm25")
            pm25_real = pm25_table.iloc[:600] if quick else time_split(pm25_table)[1]
            report["missing"] = evaluate_missing(load_pipeline(Path(options.pm25_model)), pm25_real, options)
    report["seconds"] = round(time.perf_counter() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
