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


# ---------------------------------------------------------------------- absent time steps
# Gaps of a few absent timestamps inside a series (a logger that skipped hours) are bridged by the processor with
# fully missing steps (`max_gap`). They are a property of the timeline, not of the cells, and they cluster (metro
# traffic: 7 % of steps absent, in 36 % of 24-step windows, where independent gaps at that rate would touch 84 %),
# and a few-minute denoiser almost never draws them. So the processor keeps the absent-step pattern of a sample of
# its non-overlapping windows and `missing="as_data"` generation resamples those patterns.

MAX_GAP_PATTERNS = 1000


def absent_step_patterns(segment_rows: list[np.ndarray], window_length: int, seed: int = 0) -> dict | None:
    """
    The absent-step patterns of a table's non-overlapping windows, for reproducing them in generated sequences.

    Args:
        segment_rows (`list[np.ndarray]`): row positions of each contiguous segment in time order, -1 for a bridged
            absent step (the processor's segments).
        window_length (`int`): steps per window.
        seed (`int`, *optional*): which windows are kept when more than `MAX_GAP_PATTERNS` have gaps.

    Returns:
        `dict` with `window_length`, `windows` (non-overlapping windows counted), `share` (of them with an absent
        step) and `runs` (per kept window with gaps, its `[start, length]` runs of absent steps); `None` when no
        window has an absent step.
    """
    patterns, num_windows = [], 0
    for rows in segment_rows:
        for start in range(0, len(rows) - window_length + 1, window_length):
            num_windows += 1
            absent = np.concatenate([[0], (rows[start : start + window_length] < 0).astype(np.int8), [0]])
            edges = np.diff(absent)
            starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            if len(starts):
                patterns.append([[int(a), int(b - a)] for a, b in zip(starts, stops)])
    if not patterns:
        return None
    share = len(patterns) / num_windows
    patterns.sort()  # independent of row order (segments come per entity in order of first appearance)
    if len(patterns) > MAX_GAP_PATTERNS:
        keep = np.sort(np.random.default_rng(seed).choice(len(patterns), MAX_GAP_PATTERNS, replace=False))
        patterns = [patterns[index] for index in keep]
    return {"window_length": int(window_length), "windows": int(num_windows), "share": float(share), "runs": patterns}


def draw_absent_steps(gap_patterns: dict, num_sequences: int, length: int, uniform: np.ndarray) -> np.ndarray:
    """
    Which steps of generated sequences are absent: each window-long stretch gets, with the training share, the
    absent-step pattern of a random training window (cut at the sequence's end).

    Args:
        gap_patterns (`dict`): from `absent_step_patterns`.
        num_sequences (`int`), length (`int`): shape of the generated sequences.
        uniform (`np.ndarray`): `(num_sequences, num_stretches, 2)` uniform draws in [0, 1) from the caller's
            generator, `num_stretches = ceil(length / window_length)`.

    Returns:
        `np.ndarray` of bools, `(num_sequences, length)`: True where the step is absent.
    """
    window = gap_patterns["window_length"]
    runs = gap_patterns["runs"]
    absent = np.zeros((num_sequences, uniform.shape[1] * window), dtype=bool)
    for sequence, stretch in zip(*np.nonzero(uniform[..., 0] < gap_patterns["share"])):
        pattern = runs[min(int(uniform[sequence, stretch, 1] * len(runs)), len(runs) - 1)]
        for start, run_length in pattern:
            offset = stretch * window + start
            absent[sequence, offset : offset + run_length] = True
    return absent[:, :length]
