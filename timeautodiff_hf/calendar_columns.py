"""
Calendar columns: feature columns that are a fixed function of the timestamp, such as `hour`, `weekday`, `month`,
`season` or `year` columns derived from the time column.

Real tables often carry such columns next to the timestamp. A generator that samples them like any other column
gets them wrong now and then (a June date labelled month 7, a Monday labelled Sunday), which no real row does and
which any user notices. `fit_calendar_columns` finds them on the training table: a column is a calendar column when
every observed value is determined by one calendar key of its timestamp, and that relation was seen to repeat (the
same month in two years, the same hour on two days), so a column that merely did not vary much is not taken for one.
The pipeline then replaces the generated value of such a column by the value the training table shows for the
step's key; the other columns already follow the timestamp through the calendar time features. (Giving the values
to the denoiser as conditions instead was tried: the other columns got worse, the model is at its best
unconditioned.) Keys never seen in training (a forecast into a new year) are left to the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A column that follows the month (or the day of the month) also follows the day of the year: the coarser key is tried
# first, it generalises to dates training did not show.
CALENDAR_KEYS = ("year", "quarter", "month", "day_of_month", "day_of_week", "hour", "day_of_year")
MIN_REPEATED_SHARE = 0.5


def calendar_key(index: pd.DatetimeIndex, name: str) -> np.ndarray:
    """Integer key per timestamp: the calendar field `name` (day of year as month * 100 + day, leap-year proof)."""
    if name == "day_of_year":
        return np.asarray(index.month * 100 + index.day, dtype=np.int64)
    field = "day" if name == "day_of_month" else name
    return np.asarray(getattr(index, field), dtype=np.int64)


def _repeat_period(index: pd.DatetimeIndex, name: str) -> np.ndarray | None:
    """The period in which a key value recurs (the year for months, the day for hours); none for years."""
    if name == "year":
        return None
    if name in ("quarter", "month", "day_of_year"):
        return np.asarray(index.year, dtype=np.int64)
    if name == "day_of_month":
        return np.asarray(index.year * 12 + index.month, dtype=np.int64)
    if name == "day_of_week":
        return np.asarray((index - pd.to_timedelta(index.day_of_week, unit="D")).normalize().asi8)
    return np.asarray(index.normalize().asi8)


def _determined_by(codes: np.ndarray, keys: np.ndarray, periods: np.ndarray | None) -> dict | None:
    """`{key: code}` when `codes` is a function of `keys` seen to repeat across periods, else None."""
    frame = pd.DataFrame({"key": keys, "code": codes})
    if frame["key"].nunique() < 2 or frame["code"].nunique() < 2:
        return None
    if frame.groupby("key")["code"].nunique().max() > 1:
        return None
    # Years cannot recur: a column constant within each of at least two years is accepted as it is.
    if periods is not None:
        frame["period"] = periods
        repeats = frame.groupby("key")["period"].nunique()
        if (repeats >= 2).mean() < MIN_REPEATED_SHARE:
            return None
    return frame.groupby("key")["code"].first().to_dict()


def fit_calendar_columns(
    index: pd.DatetimeIndex, codes: np.ndarray, observed: np.ndarray, continuous: list[bool]
) -> dict[int, tuple]:
    """
    Find the calendar columns of a table.

    Args:
        index (`pd.DatetimeIndex`): local timestamps of the rows.
        codes (`np.ndarray` of shape `(num_rows, num_columns)`): a value per cell that is equal exactly when the
            cells are (category index, or the continuous value).
        observed (`np.ndarray` of shape `(num_rows, num_columns)`): 1 where the cell is observed.
        continuous (`list[bool]`): per column, whether it is continuous. A continuous column constant within each
            year is a yearly figure of the data (a budget, a price level), not a calendar field: it is not
            looked up by year, which would also copy the training values into the processor file.

    Returns:
        `dict`: column index -> `(key name, {key: code})` for each calendar column.
    """
    found = {}
    keys = {name: calendar_key(index, name) for name in CALENDAR_KEYS}
    periods = {name: _repeat_period(index, name) for name in CALENDAR_KEYS}
    for column in range(codes.shape[1]):
        rows = observed[:, column] > 0
        if rows.sum() < 2:
            continue
        for name in CALENDAR_KEYS:
            if name == "year" and continuous[column]:
                continue
            period = None if periods[name] is None else periods[name][rows]
            table = _determined_by(codes[rows, column], keys[name][rows], period)
            if table is not None:
                found[column] = (name, table)
                break
    return found
