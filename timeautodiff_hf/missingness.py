"""
Missingness calibration of generated sequences.

The decoder reproduces the training data's missingness exactly from a latent (it tells a "sensor off" cell from an
observed one with probability 0.998), but a denoiser trained for minutes under-draws the rare regions of latent
space where whole stretches are missing (measured: Beijing PM2.5 outages at 3 % of cells instead of 6 %, AirQuality
whole-row outages at 1.5 % instead of 3.7 %). Shifting each cell's missing probability restores the rate but
scatters the gaps into isolated cells, which real outages are not.

So the pipeline draws a few complete candidates for every requested sequence and keeps one of them, chosen with
probabilities exponentially tilted by the candidates' missing fractions. The tilt is the smallest change (in
Kullback-Leibler divergence) of the uniform choice whose expected missing fraction per column equals the training
rate the processor stored. Every returned sequence is an untouched model draw, so gap lengths, co-missing columns
and the values around gaps stay the model's; only the mix between gappy and complete draws moves.
"""

import numpy as np

MAX_TILT = 50.0


def missing_fractions(observed_mask: np.ndarray, column_indices: list[int]) -> np.ndarray:
    """
    Share of missing cells per candidate, slot and column.

    Args:
        observed_mask (`np.ndarray`): `(num_candidates, num_slots, length, num_columns)`, 1 where a cell is observed.
        column_indices (`list[int]`): the columns that can be missing.

    Returns:
        `np.ndarray` of shape `(num_slots, num_candidates, len(column_indices))`.
    """
    missing = 1.0 - observed_mask[..., column_indices]
    return np.transpose(missing.mean(axis=2), (1, 0, 2))


def _choice_probabilities(fractions: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    scores = fractions @ tilt
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=1, keepdims=True)


def _objective(fractions: np.ndarray, tilt: np.ndarray, targets: np.ndarray) -> float:
    scores = fractions @ tilt
    top = scores.max(axis=1)
    log_sum = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))
    return float(log_sum.mean() - tilt @ targets)


def fit_tilt(fractions: np.ndarray, targets: np.ndarray, max_iterations: int = 50) -> np.ndarray:
    """
    Tilt per column whose tilted choice has, in expectation, each column's target missing fraction.

    Minimises the convex dual `mean_slots logsumexp_candidates(fractions @ tilt) - tilt @ targets` by damped Newton
    steps. Where a target cannot be reached with these candidates (e.g. no candidate of any slot has a gap), the tilt
    stops at +-`MAX_TILT`, which picks the closest candidates.

    Args:
        fractions (`np.ndarray`): `(num_slots, num_candidates, num_columns)` from `missing_fractions`.
        targets (`np.ndarray`): `(num_columns,)` missing rates to reach, in [0, 1].

    Returns:
        `np.ndarray` of shape `(num_columns,)`.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if fractions.ndim != 3 or fractions.shape[2] != targets.shape[0]:
        raise ValueError(
            f"`fractions` must be (slots, candidates, {targets.shape[0]}) for {targets.shape[0]} targets, "
            f"got {fractions.shape}."
        )
    tilt = np.zeros(targets.shape[0])
    for _ in range(max_iterations):
        probabilities = _choice_probabilities(fractions, tilt)
        expected = np.einsum("sc,scf->sf", probabilities, fractions)
        gradient = expected.mean(axis=0) - targets
        if np.abs(gradient).max() < 1e-5:
            break
        second_moment = np.einsum("sc,scf,scg->fg", probabilities, fractions, fractions) / fractions.shape[0]
        hessian = second_moment - np.einsum("sf,sg->fg", expected, expected) / fractions.shape[0]
        step = -np.linalg.solve(hessian + 1e-6 * np.eye(len(tilt)), gradient)
        current = _objective(fractions, tilt, targets)
        scale = 1.0
        while scale > 1e-4:
            candidate = np.clip(tilt + scale * step, -MAX_TILT, MAX_TILT)
            if _objective(fractions, candidate, targets) <= current:
                break
            scale /= 2
        else:
            break
        if np.abs(candidate - tilt).max() < 1e-8:
            break
        tilt = candidate
    return tilt


def tilted_choice(fractions: np.ndarray, tilt: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """
    Pick one candidate per slot with probabilities proportional to `exp(fractions @ tilt)`.

    Args:
        fractions (`np.ndarray`): `(num_slots, num_candidates, num_columns)`.
        tilt (`np.ndarray`): `(num_columns,)` from `fit_tilt`.
        uniform (`np.ndarray`): `(num_slots,)` uniform draws in [0, 1) (from the caller's generator).

    Returns:
        `np.ndarray` of candidate indices, shape `(num_slots,)`.
    """
    cumulative = np.cumsum(_choice_probabilities(fractions, tilt), axis=1)
    chosen = (cumulative < np.asarray(uniform)[:, None]).sum(axis=1)
    return np.minimum(chosen, fractions.shape[1] - 1)
