"""The setup the held-out-block drivers share: the training period's real windows and one scoring call."""

import argparse

import numpy as np
from _paths import ROOT  # noqa: F401  (puts benchmarks/ on the path)
from compare_peers import training_period_windows
from model_quality import time_split
from shared_data import load

from timeautodiff_hf.metrics import discriminative_score, marginal_distances


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """`dataset`, `models`, `--windows`, `--repeats`, `--steps`."""
    parser.add_argument("dataset")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400, help="Classifier training steps per repeat.")


def training_reference(dataset: str, processor, count: int) -> tuple:
    """`(train, real, blocks)`: the training part of `model_quality.py`'s time split and its reference windows."""
    table, schema, _, _ = load(dataset)
    train, _ = time_split(table, schema)
    (real, blocks), _ = training_period_windows(processor, train, count)
    return train, real, blocks


def held_out_scores(real, blocks, features: np.ndarray, layout, repeats: int, steps: int) -> tuple:
    """`(discriminative mean, its std, mean marginal distance)` with whole time blocks held out, as `score` does."""
    result = discriminative_score(real, features, num_repeats=repeats, num_steps=steps, real_groups=blocks)
    return result["mean"], result["std"], marginal_distances(real, features, layout)["mean"]
