"""The missingness calibration: the tilted choice of candidates reaches the training missing rate."""

import numpy as np
import pytest

from timeautodiff_hf.missingness import (
    absent_step_patterns,
    draw_absent_steps,
    fit_tilt,
    missing_fractions,
    tilted_choice,
)


def candidate_fractions(rng, num_slots=2000, num_candidates=4, rates=(0.03, 0.5)):
    """Candidates whose columns are missing as whole 24-step stretches with the given under-drawn rates."""
    length = 24
    observed = np.ones((num_candidates, num_slots, length, len(rates)))
    for column, rate in enumerate(rates):
        gappy = rng.random((num_candidates, num_slots)) < rate
        run = rng.integers(1, length + 1, size=(num_candidates, num_slots))
        steps = np.arange(length)
        observed[..., column] = np.where(gappy[..., None] & (steps < run[..., None]), 0.0, 1.0)
    return missing_fractions(observed, list(range(len(rates))))


def test_missing_fractions_shape_and_values():
    observed = np.ones((3, 5, 4, 2))
    observed[1, 2, :2, 1] = 0.0
    fractions = missing_fractions(observed, [1])
    assert fractions.shape == (5, 3, 1)
    assert fractions[2, 1, 0] == pytest.approx(0.5)
    assert fractions.sum() == pytest.approx(0.5)


def test_tilted_choice_reaches_the_target_rates():
    rng = np.random.default_rng(0)
    fractions = candidate_fractions(rng)
    uniform_rate = fractions.mean(axis=(0, 1))
    targets = np.array([0.04, 0.20])  # first column under-drawn, second over-drawn
    assert uniform_rate[0] < targets[0] / 2 and uniform_rate[1] > targets[1]
    tilt = fit_tilt(fractions, targets)
    assert tilt[0] > 0 > tilt[1]
    chosen = tilted_choice(fractions, tilt, rng.random(fractions.shape[0]))
    reached = fractions[np.arange(fractions.shape[0]), chosen].mean(axis=0)
    np.testing.assert_allclose(reached, targets, atol=0.01)


def test_no_tilt_when_the_candidates_already_match():
    rng = np.random.default_rng(1)
    fractions = candidate_fractions(rng)
    tilt = fit_tilt(fractions, fractions.mean(axis=(0, 1)))
    np.testing.assert_allclose(tilt, 0.0, atol=1e-3)


def test_unreachable_target_picks_the_gappiest_candidate_without_failing():
    fractions = np.zeros((10, 3, 1))
    fractions[:, 1, 0] = 0.1  # the best any slot can do is 10 % missing
    tilt = fit_tilt(fractions, np.array([0.5]))
    chosen = tilted_choice(fractions, tilt, np.full(10, 0.5))
    assert np.all(chosen == 1)


def test_fit_tilt_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="fractions"):
        fit_tilt(np.zeros((4, 2, 3)), np.zeros(2))


def test_absent_step_patterns_record_runs_of_non_overlapping_windows():
    rows = np.arange(20)
    rows[[5, 6, 13]] = -1  # windows [0, 5): none, [5, 10): run at 0 of 2, [10, 15): run at 3 of 1, [15, 20): none
    patterns = absent_step_patterns([rows, np.arange(7)], window_length=5)
    assert patterns["windows"] == 5 and patterns["share"] == pytest.approx(2 / 5)
    assert patterns["runs"] == [[[0, 2]], [[3, 1]]]
    assert absent_step_patterns([np.arange(30)], window_length=5) is None


def test_drawn_absent_steps_follow_the_training_share_and_patterns():
    patterns = {"window_length": 6, "windows": 100, "share": 0.3, "runs": [[[1, 2]], [[4, 1], [0, 1]]]}
    rng = np.random.default_rng(0)
    absent = draw_absent_steps(patterns, 4000, 15, rng.random((4000, 3, 2)))
    assert absent.shape == (4000, 15)
    stretches = absent[:, :12].reshape(4000, 2, 6)
    gappy = stretches.any(axis=-1)
    assert gappy.mean() == pytest.approx(0.3, abs=0.02)
    allowed = {(1, 2), (0, 4)}
    seen = {tuple(np.flatnonzero(stretch)) for stretch in stretches[gappy]}
    assert seen == allowed  # only the stored patterns, both of them
    last = absent[:, 12:]
    assert {tuple(np.flatnonzero(stretch)) for stretch in last[last.any(axis=-1)]} == {(1, 2), (0,)}  # cut at the end
