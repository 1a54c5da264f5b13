"""Declarative per-column rules (bounds, integers, decimals, monotone counters, totals) for generated tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

RULES = ("min", "max", "non_negative", "integer", "decimals", "monotone", "sum_of")


def check_constraints(constraints: dict | None, columns: list) -> dict:
    """
    Validate a constraints mapping `{column: {rule: value}}` and return it.

    Rules: `min`/`max` (numbers), `non_negative` (bool), `integer` (bool), `decimals` (int >= 0),
    `monotone` (`"increasing"`: a cumulative counter never decreases within a sequence), `sum_of` (list of columns
    whose sum the column must equal, e.g. `{"cnt": {"sum_of": ["casual", "registered"]}}`).
    """
    if constraints is None:
        return {}
    if not isinstance(constraints, dict):
        raise ValueError(f"`constraints` must be a dict of column -> rules, got {type(constraints).__name__!r}.")
    for column, rules in constraints.items():
        if column not in columns:
            raise ValueError(
                f"`constraints` names column {column!r}, which is not a model column; expected {columns}."
            )
        if not isinstance(rules, dict) or not rules:
            raise ValueError(f"Constraints of {column!r} must be a non-empty dict of rules, got {rules!r}.")
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            raise ValueError(f"Constraints of {column!r} use unknown rules {unknown}; expected some of {RULES}.")
        if "monotone" in rules and rules["monotone"] != "increasing":
            raise ValueError(f"`monotone` of {column!r} must be 'increasing', got {rules['monotone']!r}.")
        if "decimals" in rules and (not isinstance(rules["decimals"], int) or rules["decimals"] < 0):
            raise ValueError(f"`decimals` of {column!r} must be a non-negative integer, got {rules['decimals']!r}.")
        if "sum_of" in rules:
            parts = rules["sum_of"]
            if not isinstance(parts, (list, tuple)) or not parts or any(part not in columns for part in parts):
                raise ValueError(f"`sum_of` of {column!r} must list model columns, got {parts!r}.")
        if "min" in rules and "max" in rules and rules["min"] > rules["max"]:
            raise ValueError(f"Constraints of {column!r} have min {rules['min']} > max {rules['max']}.")
    return constraints


def apply_constraints(frame: pd.DataFrame, constraints: dict, group_column: str | None) -> pd.DataFrame:
    """
    Make every row satisfy the rules, changing values as little as the rule allows: bounds clip, integers and
    decimals round, counters take the running maximum within each sequence, totals become the sum of their parts.
    Missing cells stay missing. Columns keep their dtypes.
    """
    frame = frame.copy()
    # totals last, so that they add up the parts after the parts' own rules have been applied
    ordered = sorted(constraints.items(), key=lambda item: "sum_of" in item[1])
    for column, rules in ordered:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        if "sum_of" in rules:
            values = frame[list(rules["sum_of"])].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=1)
        lower = max(rules.get("min", -np.inf), 0.0 if rules.get("non_negative") else -np.inf)
        values = values.clip(lower=lower, upper=rules.get("max", np.inf))
        if rules.get("integer"):
            values = values.round()
        elif "decimals" in rules:
            values = values.round(rules["decimals"])
        if rules.get("monotone") == "increasing":
            groups = frame[group_column] if group_column else pd.Series(0, index=frame.index)
            values = values.groupby(groups, sort=False).cummax()
        frame[column] = values.astype(frame[column].dtype) if not values.isna().any() else values
    return frame


def constraint_violations(frame: pd.DataFrame, constraints: dict, group_column: str | None) -> dict[str, float]:
    """Share of rows (or of consecutive pairs, for `monotone`) that break each `column.rule`."""
    rates = {}
    for column, rules in constraints.items():
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        present = values.notna()
        for rule, setting in rules.items():
            if rule == "min":
                broken = values < setting
            elif rule == "max":
                broken = values > setting
            elif rule == "non_negative":
                broken = values < 0 if setting else pd.Series(False, index=values.index)
            elif rule == "integer":
                broken = (values % 1 != 0) if setting else pd.Series(False, index=values.index)
            elif rule == "decimals":
                broken = (values.round(setting) - values).abs() > 1e-9
            elif rule == "monotone":
                groups = frame[group_column] if group_column else pd.Series(0, index=frame.index)
                broken = values.groupby(groups, sort=False).diff() < 0
            else:
                total = frame[list(setting)].apply(pd.to_numeric, errors="coerce").sum(axis=1, min_count=1)
                broken = (total - values).abs() > 1e-6 * np.maximum(1.0, total.abs())
            rates[f"{column}.{rule}"] = float((broken & present).mean())
    return rates
