"""One-call evaluation of synthetic windows against real ones, and saving the report as JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ._utils import (
    as_windows,
    check_same_features,
    check_same_length,
    derive_seeds,
    interleaved_block_split,
    resolve_layout,
    to_jsonable,
)
from .discriminative import discriminative_score, temporal_discriminative_score
from .predictive import predictive_score
from .privacy import distance_to_closest_record
from .statistics import autocorrelation_error, correlation_distance, marginal_distances, missing_rate_error

NUM_SPLIT_BLOCKS = 10
FULL_SETTINGS = {
    "discriminative_repeats": 3,
    "discriminative_steps": 400,
    "predictive_steps": 400,
    "max_windows": 3000,
    "privacy_max_windows": 2000,
    "max_rows": 50_000,
}
QUICK_SETTINGS = {
    "discriminative_repeats": 1,
    "discriminative_steps": 150,
    "predictive_steps": 150,
    "max_windows": 1000,
    "privacy_max_windows": 1000,
    "max_rows": 20_000,
}
STAGES = (
    "discriminative",
    "discriminative_floor",
    "temporal_discriminative",
    "predictive",
    "privacy",
    "marginals",
    "correlation",
    "autocorrelation",
    "missing_rate",
    "discriminative_held_out_blocks",
)


def evaluate_generation(
    real_windows: Any,
    synthetic_windows: Any,
    *,
    layout: list[dict] | None = None,
    train_windows: Any | None = None,
    holdout_windows: Any | None = None,
    real_groups: Any | None = None,
    seed: int = 0,
    quick: bool = False,
    show_progress: bool = True,
) -> dict:
    r"""
    Runs every generation metric on real vs synthetic windows and returns a JSON-serialisable report.

    Stages (each with its own seed derived from `seed`):

    - `discriminative`: [`discriminative_score`] of real vs synthetic windows.
    - `discriminative_floor`: the same score between two halves of the real windows (alternating contiguous blocks,
      see below): the value a perfect generator would get at this sample size. Compare `discriminative` with it.
    - `temporal_discriminative`: [`temporal_discriminative_score`] on lag-1 differences.
    - `predictive`: [`predictive_score`] (TSTR vs TRTR). It trains on `train_windows` and tests on
      `holdout_windows` when both are given, otherwise on the two block halves of `real_windows`.
    - `privacy`: [`distance_to_closest_record`] against `train_windows` and `holdout_windows`; only run (else
      `None`) when both are given, since a split of `real_windows` cannot tell memorisation apart.
    - `marginals`, `correlation`, `autocorrelation`, `missing_rate`: [`marginal_distances`],
      [`correlation_distance`], [`autocorrelation_error`] and [`missing_rate_error`].
    - `discriminative_held_out_blocks`: the discriminative score again, with the classifier tested on whole groups
      of `real_groups` (time blocks) it never trained on; only run (else `None`) when `real_groups` is given.
      Overlapping stride-1 real windows have near-copies in their own block, which a random split lets the
      classifier recognise; no generator can earn that credit. It has no floor here: real windows split in halves
      are not independent draws as a generator's are (`benchmarks/compare_peers.py` builds such a reference from
      non-overlapping windows; real data of other blocks scored 0.07 on ETTh1 with 235 windows).

    Real windows are split into halves by cutting them into 10 contiguous blocks and giving even blocks to the first
    half, odd blocks to the second: stride-1 windows overlap, and a random split would put near-copies on both sides.

    `quick=True` uses 1 discriminative repeat, 150 training steps and at most 1,000 windows per set (instead of 3
    repeats, 400 steps and 3,000 windows) for smoke tests; the exact settings are in `report["protocol"]`.

    Args:
        real_windows (`np.ndarray` of shape `(num_real, sequence_length, num_features)`):
            Real windows in feature space (NaN = missing).
        synthetic_windows (`np.ndarray` of shape `(num_synthetic, sequence_length, num_features)`):
            Synthetic windows in the same feature space.
        layout (`list[dict]`, *optional*):
            Feature layout (`name`, `kind`, `start`, `stop` per column); `None` treats every feature as continuous.
        train_windows (`np.ndarray` of shape `(num_train, sequence_length, num_features)`, *optional*):
            Windows the generator was trained on.
        holdout_windows (`np.ndarray` of shape `(num_holdout, sequence_length, num_features)`, *optional*):
            Real windows the generator never saw, ideally later in time than `train_windows`.
        real_groups (array-like of shape `(num_real,)`, *optional*):
            The time block of every real window (see [`discriminative_score`]), for the held-out-block score.
        seed (`int`, *optional*, defaults to 0):
            Seed from which every stage's seed is derived.
        quick (`bool`, *optional*, defaults to `False`):
            Use the reduced budget described above.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar over the stages.

    Returns:
        `dict` with one entry per stage (see above), `summary` (`dict[str, float | int | None]`, the headline number
        of every stage, named like the model card's known metrics, e.g. `predictive_score_mae` = TSTR MAE and
        `dcr_share_closer_to_train`), `protocol` (`dict`, settings, splits and seeds) and `runtime_seconds`
        (`dict[str, float]`). NaN values are stored as `None`.
    """
    real = as_windows(real_windows, "real_windows")
    synthetic = as_windows(synthetic_windows, "synthetic_windows")
    check_same_features(real, synthetic, "real_windows", "synthetic_windows")
    check_same_length(real, synthetic, "real_windows", "synthetic_windows")
    train = None if train_windows is None else as_windows(train_windows, "train_windows")
    holdout = None if holdout_windows is None else as_windows(holdout_windows, "holdout_windows")
    for array, name in ((train, "train_windows"), (holdout, "holdout_windows")):
        if array is not None:
            check_same_features(real, array, "real_windows", name)
            check_same_length(real, array, "real_windows", name)
    layout = resolve_layout(layout, real.shape[-1])
    if real_groups is not None:
        real_groups = np.asarray(real_groups)
        if real_groups.shape != (len(real),):
            raise ValueError(
                f"`real_groups` has shape {real_groups.shape!r}, expected one label per real window: ({len(real)},)"
            )
    if len(real) < 4:
        raise ValueError(f"`real_windows` has {len(real)!r} windows, expected at least 4 to split into halves")
    settings = QUICK_SETTINGS if quick else FULL_SETTINGS
    stage_seeds = dict(zip(STAGES, derive_seeds(seed, len(STAGES))))
    first_half, second_half = interleaved_block_split(len(real), NUM_SPLIT_BLOCKS)
    # the held-out-block score needs two groups (one leaves nothing to hold out)
    if real_groups is not None and len(np.unique(real_groups)) < 2:
        held_out_note = "skipped: `real_groups` has a single group"
        real_groups = None
    else:
        held_out_note = "skipped: no `real_groups` given" if real_groups is None else "real_groups (whole groups)"
    have_reference_sets = train is not None and holdout is not None
    predictive_train = train if have_reference_sets else real[first_half]
    predictive_test = holdout if have_reference_sets else real[second_half]
    discriminative_kwargs = {
        "num_repeats": settings["discriminative_repeats"],
        "num_steps": settings["discriminative_steps"],
        "max_windows": settings["max_windows"],
    }

    stages = {
        "discriminative": lambda s: discriminative_score(real, synthetic, seed=s, **discriminative_kwargs),
        "discriminative_floor": lambda s: discriminative_score(
            real[first_half], real[second_half], seed=s, **discriminative_kwargs
        ),
        "temporal_discriminative": lambda s: temporal_discriminative_score(
            real, synthetic, lag=1, seed=s, **discriminative_kwargs
        ),
        "predictive": lambda s: predictive_score(
            predictive_train,
            synthetic,
            predictive_test,
            layout=layout,
            num_steps=settings["predictive_steps"],
            seed=s,
            max_windows=settings["max_windows"],
        ),
        "privacy": lambda s: (
            distance_to_closest_record(synthetic, train, holdout, max_windows=settings["privacy_max_windows"], seed=s)
            if have_reference_sets
            else None
        ),
        "marginals": lambda s: marginal_distances(real, synthetic, layout, seed=s),
        "correlation": lambda s: correlation_distance(real, synthetic, layout, max_rows=settings["max_rows"], seed=s),
        "autocorrelation": lambda s: autocorrelation_error(real, synthetic, layout=layout),
        "missing_rate": lambda s: missing_rate_error(real, synthetic, layout),
        "discriminative_held_out_blocks": lambda s: (
            discriminative_score(real, synthetic, seed=s, real_groups=real_groups, **discriminative_kwargs)
            if real_groups is not None
            else None
        ),
    }
    report, runtime = {}, {}
    with tqdm(total=len(stages), desc="evaluate_generation", disable=not show_progress) as progress:
        for name, run_stage in stages.items():
            progress.set_postfix_str(name)
            start = time.perf_counter()
            report[name] = run_stage(stage_seeds[name])
            runtime[name] = time.perf_counter() - start
            progress.update(1)

    privacy = report["privacy"] or {}
    held_out = report["discriminative_held_out_blocks"] or {}
    report["summary"] = {
        "discriminative_score": report["discriminative"]["mean"],
        "discriminative_floor": report["discriminative_floor"]["mean"],
        "temporal_discriminative_score": report["temporal_discriminative"]["mean"],
        "predictive_score_mae": report["predictive"]["tstr_mae"],
        "trtr_mae": report["predictive"]["trtr_mae"],
        "marginal_distance": report["marginals"]["mean"],
        "correlation_distance": report["correlation"]["distance"],
        "autocorrelation_error": report["autocorrelation"]["mean"],
        "missing_rate_error": report["missing_rate"]["mean"],
        "dcr_share_closer_to_train": privacy.get("share_closer_to_train"),
        "exact_copies": privacy.get("exact_copies"),
        "discriminative_score_held_out_blocks": held_out.get("mean"),
    }
    report["protocol"] = {
        "quick": bool(quick),
        "seed": int(seed),
        "stage_seeds": stage_seeds,
        "settings": dict(settings),
        "num_real_windows": len(real),
        "num_synthetic_windows": len(synthetic),
        "sequence_length": real.shape[1],
        "num_features": real.shape[-1],
        "layout": layout,
        "subsampling": (
            "discriminative scores: both classes subsampled without replacement to min(len(a), len(b), max_windows) "
            "windows per repeat; predictive: training sets subsampled to the same count, test set to max_windows; "
            "privacy: synthetic to privacy_max_windows, train and holdout to the same count; correlation: rows "
            "(window steps) subsampled to max_rows per set; marginals: at most 200,000 cells per column and set"
        ),
        "real_split": (
            f"real_windows cut into {NUM_SPLIT_BLOCKS} contiguous blocks, even blocks = first half "
            f"({len(first_half)} windows), odd blocks = second half ({len(second_half)} windows); used by "
            "discriminative_floor" + ("" if have_reference_sets else " and predictive (train = first, test = second)")
        ),
        "held_out_blocks": held_out_note,
        "predictive_data": (
            "train_windows / holdout_windows" if have_reference_sets else "halves of real_windows (see real_split)"
        ),
        "privacy": (
            "synthetic vs train_windows and holdout_windows"
            if have_reference_sets
            else "skipped: pass train_windows and holdout_windows (the generator's training windows and windows it "
            "never saw)"
        ),
    }
    report["runtime_seconds"] = runtime
    return to_jsonable(report)


def save_report(report: dict, path: str | os.PathLike) -> str:
    """
    Writes a report (e.g. from [`evaluate_generation`]) as indented JSON; numpy values become plain Python values and
    NaN/inf become `null`.

    Args:
        report (`dict`): the report.
        path (`str` or `os.PathLike`): output file; parent folders are created.

    Returns:
        `str`: the path written.
    """
    if not isinstance(report, dict):
        raise ValueError(f"`report` must be a dict, got {type(report).__name__!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return str(path)
