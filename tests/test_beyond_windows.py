"""Beyond fixed windows: data-driven lengths, static conditions, constraints and missingness modes."""

import numpy as np
import pandas as pd
import pytest
import torch

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.constraints import apply_constraints, check_constraints, constraint_violations
from timeautodiff_hf.trainer import main, parse_args

try:
    from .tiny_model import TINY_FLAGS, make_tiny_table
except ImportError:
    from tiny_model import TINY_FLAGS, make_tiny_table


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    """Tiny model on entities of different lengths, a static `region` column and 30 % missing `temperature`."""
    directory = tmp_path_factory.mktemp("beyond")
    table = pd.concat(
        [
            make_tiny_table(num_entities=1, num_steps=40, seed=1),
            make_tiny_table(num_entities=1, num_steps=80, seed=2).assign(station="s1"),
        ],
        ignore_index=True,
    )
    table["region"] = np.where(table["station"] == "s0", "north", "south")
    table["temperature"] = table["temperature"].mask(np.random.default_rng(0).random(len(table)) < 0.3)
    table.to_csv(directory / "table.csv", index=False)
    main(
        parse_args(
            [
                "--train_file",
                str(directory / "table.csv"),
                "--time_column",
                "time",
                "--entity_column",
                "station",
                "--static_columns",
                "region",
                "--metadata_columns",
                "weather",
                "--validation_fraction",
                "0",
                "--output_dir",
                str(directory / "model"),
                *TINY_FLAGS,
            ]
        )
    )
    pipeline = TimeAutoDiffPipeline.from_pretrained(directory / "model")
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_data_driven_lengths_follow_the_training_entities(pipe):
    frames = pipe.generate(num_sequences=6, sequence_length="data", num_inference_steps=2, generator=seeded())
    lengths = frames.groupby("sequence_id").size()
    assert set(lengths) <= {40, 80} and len(lengths) == 6
    steps = frames.groupby("sequence_id")["time"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(hours=1)]


def test_static_values_given_as_conditions_come_back_constant(pipe):
    static = pd.DataFrame({"region": ["south", "north", "south"]})
    frames = pipe.generate(num_sequences=3, static=static, num_inference_steps=2, generator=seeded())
    per_sequence = frames.groupby("sequence_id")["region"].agg(["nunique", "first"])
    assert (per_sequence["nunique"] == 1).all()
    assert per_sequence["first"].tolist() == ["south", "north", "south"]


def test_generated_static_columns_are_constant_within_each_sequence(pipe):
    frames = pipe.generate(num_sequences=4, num_inference_steps=2, generator=seeded())
    assert (frames.groupby("sequence_id")["region"].nunique() == 1).all()


def test_constraints_remove_every_violation_and_keep_the_scenario(pipe):
    rules = {"load": {"min": 45, "max": 55, "integer": True}, "temperature": {"decimals": 1, "monotone": "increasing"}}
    before = pipe.generate(num_sequences=4, num_inference_steps=2, generator=seeded())
    after = pipe.generate(num_sequences=4, constraints=rules, num_inference_steps=2, generator=seeded())
    assert max(constraint_violations(before, rules, "sequence_id").values()) > 0
    assert all(rate == 0.0 for rate in constraint_violations(after, rules, "sequence_id").values())
    scenario = pd.DataFrame({"weather": ["rain"] * 8})
    what_if = pipe.generate(
        num_sequences=2, metadata=scenario, constraints=rules, num_inference_steps=2, generator=seeded()
    )
    assert (what_if["weather"] == "rain").all()


def test_imputation_constraints_change_only_filled_cells(pipe):
    rules = {"load": {"min": 45, "max": 55}}
    table = make_tiny_table(num_entities=2, num_steps=30, seed=4)
    table["region"] = np.where(table["station"] == "s0", "north", "south")
    holes = table.copy()
    hidden = np.random.default_rng(1).random(len(table)) < 0.3
    holes["load"] = holes["load"].astype("Int64").mask(hidden)
    filled = pipe.impute(holes, constraints=rules, num_samples=2, num_inference_steps=2, generator=seeded())
    for _, draw in filled.groupby("sample"):
        generated = draw["load"].to_numpy(dtype=float)[hidden]
        assert ((generated >= 45) & (generated <= 55)).all()
        observed = draw["load"].to_numpy(dtype=float)[~hidden]
        np.testing.assert_array_equal(observed, table["load"].to_numpy(dtype=float)[~hidden])
    assert (table.loc[~hidden, "load"] < 45).any(), "observed cells outside the bounds must stay as given"


def test_forecast_constraints_hold_on_every_path_and_keep_known_metadata(pipe):
    rules = {"load": {"min": 45, "max": 55, "integer": True}, "temperature": {"monotone": "increasing"}}
    history = make_tiny_table(num_entities=2, num_steps=16, seed=6)
    history["region"] = np.where(history["station"] == "s0", "north", "south")
    forecast = pipe.forecast(history, horizon=6, constraints=rules, num_samples=2, generator=seeded())
    rates = constraint_violations(
        forecast.assign(path=forecast["sample"].astype(str) + forecast["station"]), rules, "path"
    )
    assert all(rate == 0.0 for rate in rates.values())
    assert len(forecast) == 2 * 2 * 6


def test_sum_of_makes_a_total_equal_its_parts():
    frame = pd.DataFrame({"sequence_id": [0, 0], "a": [1.0, 2.0], "b": [3.0, 4.0], "total": [0.0, 100.0]})
    fixed = apply_constraints(frame, {"total": {"sum_of": ["a", "b"]}}, "sequence_id")
    assert fixed["total"].tolist() == [4.0, 6.0]
    assert constraint_violations(fixed, {"total": {"sum_of": ["a", "b"]}}, "sequence_id")["total.sum_of"] == 0.0


def test_a_total_listed_before_its_parts_still_equals_their_constrained_sum():
    frame = pd.DataFrame({"a": [1.6, -0.5], "b": [2.6, 3.0], "total": [0.0, 0.0]})
    rules = {"total": {"sum_of": ["a", "b"]}, "a": {"min": 0, "integer": True}, "b": {"integer": True}}
    fixed = apply_constraints(frame, rules, None)
    assert all(rate == 0.0 for rate in constraint_violations(fixed, rules, None).values())
    assert fixed["total"].tolist() == [5.0, 3.0]


@pytest.mark.parametrize(
    "constraints, message",
    [
        ({"nope": {"min": 0}}, "not a model column"),
        ({"load": {"between": 1}}, "unknown rules"),
        ({"load": {"monotone": "down"}}, "monotone"),
        ({"load": {"min": 5, "max": 1}}, "min 5 > max 1"),
        ({"load": {"sum_of": ["ghost"]}}, "sum_of"),
    ],
)
def test_when_constraints_are_invalid_then_raises_value_error(constraints, message):
    with pytest.raises(ValueError, match=message):
        check_constraints(constraints, ["load", "temperature"])


def test_missing_modes_reproduce_or_remove_missing_cells(pipe):
    complete = pipe.generate(num_sequences=20, missing="none", num_inference_steps=2, generator=seeded())
    assert not complete.drop(columns=["time"]).isna().any().any()
    as_data = pipe.generate(num_sequences=20, missing="as_data", num_inference_steps=2, generator=seeded())
    never_missing = ["load", "mode", "busy", "weather", "region"]
    assert not as_data[never_missing].isna().any().any()


def test_missingness_calibration_brings_the_generated_rate_to_the_training_rate(pipe):
    column = pipe.processor.columns[pipe.processor.column_names.index("temperature")]
    training_rate = column["missing_rate"]

    def generated_rates() -> dict:
        rates = {}
        for candidates in (1, 8):
            pipe.missingness_candidates = candidates
            frame = pipe.generate(num_sequences=150, missing="as_data", num_inference_steps=2, generator=seeded(3))
            rates[candidates] = frame["temperature"].isna().mean()
            again = pipe.generate(num_sequences=150, missing="as_data", num_inference_steps=2, generator=seeded(3))
            pd.testing.assert_frame_equal(frame, again)  # the choice is driven by the generator too
        return rates

    try:
        rates = generated_rates()
        assert abs(rates[8] - training_rate) < 0.03
        # The candidates are chosen to steer the running rate to the target: moved away from what the model draws
        # by itself, the target pulls the calibrated rate along (whatever the tiny model's own rate).
        column["missing_rate"] = rates[1] + 0.1
        steered = generated_rates()
        assert steered[8] - rates[1] > 0.05
        column["missing_rate"] = max(rates[1] - 0.1, 0.01)
        assert rates[1] - generated_rates()[8] > 0.05
    finally:
        column["missing_rate"] = training_rate
        pipe.missingness_candidates = 4


def test_when_missingness_candidates_is_invalid_then_raises_value_error(pipe):
    pipe.missingness_candidates = 0
    try:
        with pytest.raises(ValueError, match="missingness_candidates"):
            pipe.generate(num_sequences=2, num_inference_steps=2)
    finally:
        pipe.missingness_candidates = 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sequence_length": "longest"}, "'data'"),
        ({"static": pd.DataFrame({"region": ["north"] * 2})}, "1 or num_sequences=3"),
        ({"static": pd.DataFrame({"mode": ["a"]})}, "static columns"),
        ({"static": pd.DataFrame({"region": [None]})}, "missing values"),
    ],
)
def test_when_generate_arguments_are_invalid_then_raises_value_error(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate(num_sequences=3, num_inference_steps=2, **kwargs)
