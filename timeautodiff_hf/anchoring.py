"""
Anchoring decoded continuous values to the observed cells around them.

The VAE compresses each step to a few latent numbers, so a decoded window reproduces the observed cells only
approximately; its error is smooth in time (it mostly lives in the slowly varying level of each column). Where a cell
is generated between observed cells of the same column (imputation, the known part of a forecast window), the
decoder's error on those observed neighbours is therefore a good estimate of its error on the generated cell. We
measure that residual (observed minus decoded) at every observed cell and add its linear interpolation in time to
the generated cells: the model contributes the shape (curvature, daily pattern, cross-column information) and the
observed neighbours pin the level. Beyond the last observed cell (a forecast horizon) the residual fades out
geometrically, so long horizons return to the model's own values.
"""

from __future__ import annotations

import numpy as np


def anchor_to_observed(
    decoded: np.ndarray,
    observed_values: np.ndarray,
    observed_mask: np.ndarray,
    columns: list[int],
    decay: float = 0.8,
) -> np.ndarray:
    """
    Correct decoded continuous values by the interpolated decoding error at observed cells of the same column.

    Args:
        decoded (`np.ndarray` of shape `(num_windows, length, num_columns)`): decoded model-space values.
        observed_values (`np.ndarray`, same shape): the given cells (anything where `observed_mask` is 0).
        observed_mask (`np.ndarray`, same shape): 1 where a cell is given.
        columns (`list[int]`): the column indices to correct (continuous columns).
        decay (`float`, *optional*, defaults to 0.8): per-step factor by which the residual fades outside the
            span of observed cells (0 switches extrapolation off, 1 holds it constant).

    Returns:
        `np.ndarray`: a corrected copy of `decoded`; observed cells keep their decoded values (the caller copies
        the given values back), windows or columns without observed cells are unchanged.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"`decay` must lie in [0, 1], got {decay!r}.")
    corrected = decoded.copy()
    num_windows, length, _ = decoded.shape
    steps = np.arange(length)
    for window in range(num_windows):
        for column in columns:
            given = observed_mask[window, :, column] > 0
            if not given.any() or given.all():
                continue
            positions = steps[given]
            residual = observed_values[window, given, column] - decoded[window, given, column]
            correction = np.interp(steps, positions, residual)
            before, after = steps < positions[0], steps > positions[-1]
            correction[before] *= decay ** (positions[0] - steps[before])
            correction[after] *= decay ** (steps[after] - positions[-1])
            corrected[window, ~given, column] += correction[~given]
    return corrected
