"""Reading user tables (DataFrame, `datasets.Dataset`, CSV/Parquet/JSON paths) into pandas."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
}


def read_table(table: Any, *, argument_name: str = "table") -> pd.DataFrame:
    """Return `table` as a pandas DataFrame without copying a DataFrame that is passed in.

    Args:
        table (`pd.DataFrame`, `datasets.Dataset`, `str` or `os.PathLike`):
            The long table: one row per entity and time step. Paths ending in `.csv`, `.tsv`, `.parquet`, `.json`
            or `.jsonl` (optionally compressed, e.g. `.csv.gz`) are read with pandas.
        argument_name (`str`, *optional*, defaults to `"table"`):
            Used in error messages so that the user knows which argument was wrong.

    Returns:
        `pd.DataFrame`: the table.
    """
    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, (str, os.PathLike)):
        return read_table_file(table, argument_name=argument_name)
    if type(table).__name__ in {"Dataset", "IterableDataset"} and hasattr(table, "to_pandas"):
        return table.to_pandas()
    if type(table).__name__ == "IterableDataset":
        return pd.DataFrame(list(table))
    raise ValueError(
        f"`{argument_name}` must be a pandas DataFrame, a datasets.Dataset or a path to a CSV/Parquet/JSON file, "
        f"got {type(table).__name__!r}."
    )


def read_table_file(path: str | os.PathLike, *, argument_name: str = "table", **read_kwargs) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSON(L) file into a DataFrame, choosing the reader from the file suffix."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"`{argument_name}` points to {str(path)!r}, which does not exist.")
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2", ".zip", ".xz", ".zst"}:
        suffixes = suffixes[:-1]
    file_format = TABLE_SUFFIXES.get(suffixes[-1] if suffixes else "")
    if file_format == "csv":
        separator = "\t" if suffixes[-1] == ".tsv" else ","
        return pd.read_csv(path, sep=separator, **read_kwargs)
    if file_format == "parquet":
        return pd.read_parquet(path, **read_kwargs)
    if file_format == "json":
        return pd.read_json(path, lines=suffixes[-1] == ".jsonl", **read_kwargs)
    raise ValueError(
        f"`{argument_name}` has an unsupported file type {''.join(path.suffixes)!r}; expected one of "
        f"{sorted(TABLE_SUFFIXES)} (optionally compressed)."
    )


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `frame` as CSV or Parquet depending on the suffix of `path` (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        frame.to_parquet(path, index=False)
    elif suffix in {".csv", ".gz"}:
        frame.to_csv(path, index=False)
    elif suffix in {".json", ".jsonl"}:
        frame.to_json(path, orient="records", lines=suffix == ".jsonl", date_format="iso")
    else:
        raise ValueError(f"Output path {str(path)!r} must end in .csv, .parquet, .json or .jsonl.")
    return path
