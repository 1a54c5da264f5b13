"""TimeAutoDiffProcessor: schema, scaling and windowing of heterogeneous long tables (pandas <-> arrays)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Tick
from transformers import FeatureExtractionMixin
from transformers.utils import logging

from .calendar_columns import calendar_key, fit_calendar_columns
from .category_paths import MAX_PATH_CATEGORIES, transition_counts
from .missingness import absent_step_patterns
from .table_io import read_table

logger = logging.get_logger(__name__)

COLUMN_KINDS = ("continuous", "binary", "categorical")
COLUMN_ROLES = ("feature", "metadata", "static")
NUM_QUANTILE_KNOTS = 201
# Quantile levels are squeezed into [QUANTILE_EDGE, 1 - QUANTILE_EDGE] before the normal inverse CDF so that the
# extreme training values land at about +-3.3 instead of +-infinity.
QUANTILE_EDGE = 0.0005


class TimeAutoDiffProcessor(FeatureExtractionMixin):
    r"""
    Turns a long heterogeneous table into model windows and back, and saves its fitted state as JSON.

    A *long table* has one row per entity and time step. Columns are of three kinds:

    - `continuous`: numbers, scaled by a piecewise-linear quantile map onto standard-normal scores. The map is
      monotone, so its inverse is exact; it is robust to the skew and outliers of real data (a single 9,831 mm rain
      outlier would squash every other value to one point under min-max scaling).
    - `binary`: two values (bools, 0/1, two strings), encoded as index 0/1 of their sorted vocabulary.
    - `categorical`: strings, categories and low-cardinality integers, encoded as indices of the sorted vocabulary.

    Kinds are inferred with deterministic rules unless given in `column_kinds`:
    bools and any column with exactly two distinct values are `binary`; strings/objects/`category` dtype are
    `categorical`; integer-valued numeric columns with at most `categorical_threshold` distinct values, each seen
    on average at least four times, are `categorical`; every other numeric column is `continuous`.

    Missing cells (NaN/None, and per-column sentinels from `missing_values`) are allowed everywhere: every window
    comes with an `observed_mask` (1 = observed) and the model never learns from missing cells.

    Args:
        time_column (`str`, *optional*):
            Column holding timestamps (parsed with pandas) or numeric time steps. Without it, row order is time.
        entity_column (`str`, *optional*):
            Column identifying independent series (patient, station, stock). Windows never cross entities.
        metadata_columns (`list[str]`, *optional*):
            Time-varying conditions that users supply at generation time (weather, holidays).
        static_columns (`list[str]`, *optional*):
            Columns constant within an entity (region, sector).
        column_kinds (`dict[str, str]`, *optional*):
            Per-column kind overrides, values in `("continuous", "binary", "categorical")`.
        missing_values (`dict[str, float | str | list]`, *optional*):
            Per-column sentinel values that mean "missing", e.g. `{"CO(GT)": -200}`.
        sequence_length (`int`, *optional*, defaults to 24):
            Number of time steps per window.
        stride (`int`, *optional*, defaults to 1):
            Step between the starts of consecutive training windows.
        categorical_threshold (`int`, *optional*, defaults to 25):
            Integer-valued columns with at most this many distinct values are treated as categorical.
        max_categories (`int`, *optional*, defaults to 1000):
            Inferred categorical columns with more categories raise an error (likely an identifier); declare the
            kind explicitly in `column_kinds` to allow it.
        max_gap (`int`, *optional*, defaults to 3):
            Gaps of up to this many absent time steps inside an entity are bridged with fully missing steps, so that
            a series with a few absent hours (or market holidays) still gives windows; longer gaps split the series.
        elapsed_time (`bool`, *optional*, defaults to `False`):
            Add a time feature for the absolute position of each step in the fitted time span (-1 at the first
            training timestamp, 1 at the last, held at the ends outside it). For tables with a trend or a regime
            change over the span (a growing business, a sensor swap): the denoiser then knows which part of the
            history a window comes from, so generated windows follow the level of their period.
            Forecasts beyond the span see the value of its end. Needs a time column.
        handle_unknown (`str`, *optional*, defaults to `"error"`):
            What to do with categories not seen during `fit`: `"error"` raises, `"missing"` treats the cell as
            missing (so `impute` fills it) and logs a warning.
        columns (`list[dict]`, *optional*):
            Fitted per-column state; set by `fit` and restored by `from_pretrained`. Not meant to be passed by hand.
        time_info (`dict`, *optional*):
            Fitted time-axis state (kind, frequency, range); set by `fit`.

    Example:

    ```py
    >>> import pandas as pd
    >>> from timeautodiff_hf import TimeAutoDiffProcessor
    >>> table = pd.DataFrame(
    ...     {"date": pd.date_range("2024-01-01", periods=48, freq="h"), "load": range(48), "mode": ["a", "b"] * 24}
    ... )
    >>> processor = TimeAutoDiffProcessor(time_column="date", sequence_length=8).fit(table)
    >>> batch = processor.encode(table)
    >>> batch["values"].shape
    (41, 8, 2)
    >>> processor.decode(batch["values"], timestamps=batch["timestamps"]).shape
    (328, 4)
    ```
    """

    model_input_names = ["values", "observed_mask", "time_features"]

    def __init__(
        self,
        time_column: str | None = None,
        entity_column: str | None = None,
        metadata_columns: list[str] | None = None,
        static_columns: list[str] | None = None,
        column_kinds: dict[str, str] | None = None,
        missing_values: dict[str, Any] | None = None,
        sequence_length: int = 24,
        stride: int = 1,
        categorical_threshold: int = 25,
        max_categories: int = 1000,
        handle_unknown: str = "error",
        max_gap: int = 3,
        elapsed_time: bool = False,
        columns: list[dict] | None = None,
        time_info: dict | None = None,
        column_order: list[str] | None = None,
        **kwargs,
    ):
        for field in ("feature_extractor_type", "processor_class"):
            declared = kwargs.pop(field, None)
            if declared not in (None, "TimeAutoDiffProcessor"):
                raise ValueError(
                    f"The processor config declares {field}={declared!r}; a TimeAutoDiff processor only accepts "
                    "'TimeAutoDiffProcessor'. Refusing to load (the file may be tampered with)."
                )
        super().__init__(**kwargs)
        check_positive_int(sequence_length, "sequence_length")
        check_positive_int(stride, "stride")
        check_positive_int(categorical_threshold, "categorical_threshold")
        check_positive_int(max_categories, "max_categories")
        if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
            raise ValueError(f"`max_gap` must be a non-negative integer, got {max_gap!r}.")
        if not isinstance(elapsed_time, (bool, np.bool_)):
            raise ValueError(f"`elapsed_time` must be True or False, got {elapsed_time!r}.")
        if elapsed_time and time_column is None:
            raise ValueError("`elapsed_time=True` needs a `time_column`: without timestamps there is no time span.")
        if handle_unknown not in ("error", "missing"):
            raise ValueError(f"`handle_unknown` must be 'error' or 'missing', got {handle_unknown!r}.")
        for name, value in (("metadata_columns", metadata_columns), ("static_columns", static_columns)):
            if value is not None and (isinstance(value, str) or not all(isinstance(item, str) for item in value)):
                raise ValueError(f"`{name}` must be a list of column names, got {value!r}.")
        for column, kind in (column_kinds or {}).items():
            if kind not in COLUMN_KINDS:
                raise ValueError(f"Column kind for {column!r} must be one of {COLUMN_KINDS}, got {kind!r}.")
        overlap = set(metadata_columns or []) & set(static_columns or [])
        if overlap:
            raise ValueError(f"Columns {sorted(overlap)} are listed both in `metadata_columns` and `static_columns`.")
        self.time_column = time_column
        self.entity_column = entity_column
        self.metadata_columns = list(metadata_columns or [])
        self.static_columns = list(static_columns or [])
        self.column_kinds = dict(column_kinds or {})
        self.missing_values = {key: normalize_sentinels(value) for key, value in (missing_values or {}).items()}
        self.sequence_length = int(sequence_length)
        self.stride = int(stride)
        self.categorical_threshold = int(categorical_threshold)
        self.max_categories = int(max_categories)
        self.handle_unknown = handle_unknown
        self.max_gap = int(max_gap)
        self.elapsed_time = bool(elapsed_time)
        self.columns = columns
        self.time_info = time_info
        self.column_order = column_order

    # ------------------------------------------------------------------ properties of the fitted schema
    @property
    def is_fitted(self) -> bool:
        return self.columns is not None

    @property
    def column_names(self) -> list[str]:
        """Feature column names in model order (everything except the time and entity columns)."""
        self._check_fitted()
        return [column["name"] for column in self.columns]

    @property
    def num_columns(self) -> int:
        self._check_fitted()
        return len(self.columns)

    @property
    def column_kinds_fitted(self) -> list[str]:
        self._check_fitted()
        return [column["kind"] for column in self.columns]

    @property
    def category_sizes(self) -> list[int]:
        """Vocabulary size per column (0 for continuous columns)."""
        self._check_fitted()
        return [
            len(column.get("categories") or []) if column["kind"] != "continuous" else 0 for column in self.columns
        ]

    @property
    def metadata_indices(self) -> list[int]:
        self._check_fitted()
        return [index for index, column in enumerate(self.columns) if column["role"] == "metadata"]

    @property
    def static_indices(self) -> list[int]:
        self._check_fitted()
        return [index for index, column in enumerate(self.columns) if column["role"] == "static"]

    @property
    def time_feature_names(self) -> list[str]:
        self._check_fitted()
        return list(self.time_info["feature_names"])

    @property
    def num_time_features(self) -> int:
        return len(self.time_feature_names)

    @property
    def frequency(self) -> str | float | None:
        self._check_fitted()
        return self.time_info.get("frequency")

    def schema(self) -> dict:
        """The fitted schema as a JSON-friendly dict (used by model cards and error messages)."""
        self._check_fitted()
        return {
            "time_column": self.time_column,
            "entity_column": self.entity_column,
            "columns": [
                {key: column[key] for key in ("name", "kind", "dtype", "role", "categories") if key in column}
                | ({"calendar_key": column["calendar"]["key"]} if column.get("calendar") else {})
                for column in self.columns
            ],
            "frequency": self.time_info.get("frequency"),
            "sequence_length": self.sequence_length,
        }

    def feature_layout(self) -> list[dict]:
        """Slices of the one-hot feature space (see `to_features`) per column: name, kind, start, stop."""
        self._check_fitted()
        layout, start = [], 0
        for column in self.columns:
            width = len(column["categories"]) if column["kind"] == "categorical" else 1
            layout.append({"name": column["name"], "kind": column["kind"], "start": start, "stop": start + width})
            start += width
        return layout

    # ------------------------------------------------------------------ fit
    def fit(self, table: Any) -> TimeAutoDiffProcessor:
        """
        Learn the schema, category vocabularies, scalers and time frequency from a long table.

        Args:
            table (`pd.DataFrame`, `datasets.Dataset` or path):
                The training table.

        Returns:
            `TimeAutoDiffProcessor`: `self`, fitted.
        """
        frame = read_table(table)
        self._check_declared_columns(frame)
        if len(frame) == 0:
            raise ValueError("The table is empty: `fit` needs at least one row.")
        bad_names = [name for name in frame.columns if not isinstance(name, (str, int, np.integer))]
        if bad_names:
            raise ValueError(
                f"Column names must be strings or integers, got {bad_names[:5]}; rename them (e.g. "
                "`df.columns = df.columns.map(str)`)."
            )
        self.column_order = [int(name) if isinstance(name, np.integer) else name for name in frame.columns]
        if len(set(self.column_order)) != len(self.column_order):
            raise ValueError("The table has duplicate column names; rename them so that each column is unique.")
        feature_names = [name for name in frame.columns if name not in (self.time_column, self.entity_column)]
        if not feature_names:
            raise ValueError("The table has no feature columns besides the time and entity columns.")
        columns = []
        for name in feature_names:
            series = self._apply_missing_sentinels(frame[name], name)
            columns.append(self._fit_column(name, series, frame[name].dtype))
        self.columns = columns
        self.time_info = None
        timestamps, entities = self._parse_time_and_entities(frame, fitting=True)
        self.time_info = self._fit_time(timestamps, entities)
        if entities is not None:
            self.time_info["entity_dtype"] = str(frame[self.entity_column].dtype)
            # Observed entity lengths, for generating sequences as long as the real ones (`sequence_length="data"`).
            self.time_info["entity_lengths"] = sorted(int(count) for count in entities.value_counts().to_numpy())
        segment_rows = [rows for _, rows in self._segments(timestamps, entities, len(frame))]
        if timestamps is not None and self.max_gap > 0:
            # Where bridged absent steps fall in windows, for `missing="as_data"` generation to reproduce them.
            gap_patterns = absent_step_patterns(segment_rows, self.sequence_length)
            if gap_patterns is not None:
                self.time_info["gap_patterns"] = gap_patterns
        codes, observed = self.encode_cells(frame)
        self._fit_transitions(codes, observed, segment_rows)
        if self.time_info["kind"] == "datetime":
            self._fit_calendar_columns(frame, timestamps, codes, observed)
        return self

    def _fit_transitions(self, codes: np.ndarray, observed: np.ndarray, segment_rows: list[np.ndarray]) -> None:
        """Step-to-step category counts of binary/categorical columns, for decoding them as paths through time."""
        for index, column in enumerate(self.columns):
            size = len(column.get("categories") or [])
            if column["kind"] != "continuous" and 2 <= size <= MAX_PATH_CATEGORIES:
                column["transition_counts"] = transition_counts(
                    codes[:, index], observed[:, index], segment_rows, size
                )

    def _fit_calendar_columns(
        self, frame: pd.DataFrame, timestamps: pd.Series, codes: np.ndarray, observed: np.ndarray
    ) -> None:
        """Record, per column that is a function of a calendar key (see `calendar_columns`), the key and its values."""
        codes, observed = codes.copy(), observed.copy()
        for index, column in enumerate(self.columns):
            if column["role"] == "static":
                observed[:, index] = 0  # per-entity constants are given per sequence, not by the calendar
            elif column["kind"] == "continuous":
                rows = observed[:, index] > 0
                series = self._apply_missing_sentinels(frame[column["name"]], column["name"])
                codes[rows, index] = to_float_array(series[rows], column["name"])
        continuous = [column["kind"] == "continuous" for column in self.columns]
        found = fit_calendar_columns(self._local_index(timestamps.to_numpy()), codes, observed, continuous)
        for index, (key, table) in found.items():
            column = self.columns[index]
            if column["kind"] == "continuous":
                pairs = [[int(k), float(v)] for k, v in sorted(table.items())]
            else:
                pairs = [[int(k), column["categories"][int(v)]] for k, v in sorted(table.items())]
            column["calendar"] = {"key": key, "values": pairs}

    def _local_index(self, timestamps: np.ndarray) -> pd.DatetimeIndex:
        """Internal (naive UTC) timestamps as the wall-clock times of the fitted time zone."""
        index = pd.DatetimeIndex(timestamps.reshape(-1))
        if self.time_info.get("timezone"):
            index = index.tz_localize("UTC").tz_convert(self.time_info["timezone"])
        return index

    def calendar_cells(self, timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """
        Model-space values of the calendar columns at these timestamps, where training showed their key.

        Args:
            timestamps (`np.ndarray` of shape `(num_windows, length)`): internal timestamps.

        Returns:
            `(values, mask)` of shape `(num_windows, length, num_columns)`, mask 1 where a calendar column's value is
            known; `None` when the processor has no calendar columns.
        """
        self._check_fitted()
        entries = [(index, column) for index, column in enumerate(self.columns) if column.get("calendar")]
        if not entries or self.time_info["kind"] != "datetime":
            return None
        index = self._local_index(np.asarray(timestamps))
        values = np.zeros((*timestamps.shape, self.num_columns))
        mask = np.zeros_like(values)
        for position, column in entries:
            calendar = column["calendar"]
            keys = [key for key, _ in calendar["values"]]
            if column["kind"] == "continuous":
                encoded = quantile_transform(np.array([value for _, value in calendar["values"]], dtype=float), column)
            else:
                lookup = category_lookup(column["categories"])
                encoded = np.array([lookup.get(category_key(value), -1) for _, value in calendar["values"]], float)
                if (encoded < 0).any():
                    raise ValueError(
                        f"Column {column['name']!r}: its calendar values are not all in its vocabulary; the processor "
                        "file is inconsistent. Set `pipe.fill_calendar_columns = False` to generate it instead."
                    )
            mapped = pd.Series(calendar_key(index, calendar["key"])).map(dict(zip(keys, encoded)))
            known = mapped.notna().to_numpy().reshape(timestamps.shape)
            values[..., position][known] = mapped.to_numpy(dtype=float).reshape(timestamps.shape)[known]
            mask[..., position] = known
        return values, mask

    def fit_chunks(
        self, chunks: Iterable[pd.DataFrame], sample_rows: int = 200_000, seed: int = 0
    ) -> TimeAutoDiffProcessor:
        """
        Fit on a table too large for memory, read once as a sequence of DataFrame chunks (e.g. a streamed
        `datasets.IterableDataset`).

        What is exact over the whole stream: category vocabularies, missing rates, value ranges, the time span and
        the entity lengths. What is estimated: the quantile scalers, inferred column kinds and calendar columns come
        from a uniform random sample of `sample_rows` rows (seeded); the time frequency, time zone, schema,
        absent-step patterns and category transition counts from the first `sample_rows` contiguous rows (the
        head), so the head must show the table's regular time step.

        Args:
            chunks (iterable of `pd.DataFrame`): the table in order, all chunks with the same columns.
            sample_rows (`int`, *optional*, defaults to 200000): rows kept in memory for the estimates.
            seed (`int`, *optional*, defaults to 0): seed of the row sample.

        Returns:
            `TimeAutoDiffProcessor`: `self`, fitted.
        """
        check_positive_int(sample_rows, "sample_rows")
        iterator = iter(chunks)
        buffered, buffered_rows = [], 0
        for chunk in iterator:
            if not isinstance(chunk, pd.DataFrame):
                raise ValueError(f"`chunks` must yield pandas DataFrames, got {type(chunk).__name__}.")
            buffered.append(chunk)
            buffered_rows += len(chunk)
            if buffered_rows >= sample_rows:
                break
        if not buffered_rows:
            raise ValueError("The table is empty: `fit_chunks` needs at least one row.")
        head = pd.concat(buffered, ignore_index=True).iloc[:sample_rows]
        self.fit(head)
        feature_names = [column["name"] for column in self.columns]
        declared_categorical = {name for name, kind in self.column_kinds.items() if kind != "continuous"}
        limits = {name: 1_000_000 if name in declared_categorical else self.max_categories for name in feature_names}
        rng = np.random.default_rng(seed)
        sample, sample_keys = None, np.empty(0)
        distinct: dict = {name: set() for name in feature_names}
        missing_counts = dict.fromkeys(feature_names, 0)
        lows, highs = {}, {}
        entity_counts: dict = {}
        time_low = time_high = None
        num_rows = 0
        for chunk in itertools.chain(buffered, iterator):
            if list(chunk.columns) != list(head.columns):
                raise ValueError(
                    f"Every chunk must have the columns of the first one {list(head.columns)}, got "
                    f"{list(chunk.columns)} after row {num_rows}."
                )
            num_rows += len(chunk)
            # a uniform sample of rows: keep the rows with the smallest random keys seen so far
            keys = rng.random(len(chunk))
            merged_keys = np.concatenate([sample_keys, keys])
            keep = np.sort(np.argsort(merged_keys, kind="stable")[:sample_rows])
            merged = chunk if sample is None else pd.concat([sample, chunk], ignore_index=True)
            sample, sample_keys = merged.iloc[keep].reset_index(drop=True), merged_keys[keep]
            for name in feature_names:
                series = self._apply_missing_sentinels(chunk[name], name)
                missing_counts[name] += int(series.isna().sum())
                observed = series.dropna()
                check_no_infinities(observed, name)
                if pd.api.types.is_numeric_dtype(observed.dtype) and not pd.api.types.is_bool_dtype(observed.dtype):
                    if len(observed):
                        values = to_float_array(observed, name)
                        lows[name] = min(lows.get(name, np.inf), float(values.min()))
                        highs[name] = max(highs.get(name, -np.inf), float(values.max()))
                if distinct.get(name) is not None:
                    distinct[name].update(observed.unique().tolist())
                    if len(distinct[name]) > limits[name]:
                        distinct[name] = None  # too many values for a vocabulary: only continuous is possible
            timestamps, entities = self._parse_time_and_entities(chunk, fitting=False)
            if timestamps is not None:
                low, high = timestamps.min(), timestamps.max()
                time_low = low if time_low is None else min(time_low, low)
                time_high = high if time_high is None else max(time_high, high)
            if entities is not None:
                for entity, count in entities.value_counts().items():
                    entity_counts[entity] = entity_counts.get(entity, 0) + int(count)
        columns = []
        for column in self.columns:
            name = column["name"]
            series = self._apply_missing_sentinels(sample[name], name)
            if series.notna().any():
                column = self._fit_column(name, series, head[name].dtype)
            column["missing_rate"] = missing_counts[name] / num_rows
            if column["kind"] == "continuous":
                column["min"], column["max"] = lows.get(name, column["min"]), highs.get(name, column["max"])
            else:
                if distinct[name] is None:
                    raise ValueError(
                        f"Column {name!r} has more than {limits[name]} distinct values in the stream; it cannot be "
                        f"{column['kind']}. Declare it 'continuous' in `column_kinds`, drop it, or raise "
                        "`max_categories`."
                    )
                categories = sorted_categories(pd.Series(list(distinct[name]), dtype=object), name)
                if column["kind"] == "binary" and len(categories) > 2:
                    if self.column_kinds.get(name) == "binary":
                        raise ValueError(
                            f"Column {name!r} is declared binary but has {len(categories)} distinct values in the "
                            "stream; declare it 'categorical' instead."
                        )
                    column["kind"] = "categorical"
                column["categories"] = categories
            columns.append(column)
        self.columns = columns
        if time_low is not None and self.time_info["kind"] == "datetime":
            self.time_info["start"], self.time_info["end"] = time_low.isoformat(), time_high.isoformat()
        elif time_low is not None:
            self.time_info["start"], self.time_info["end"] = float(time_low), float(time_high)
        if entity_counts:
            self.time_info["entity_lengths"] = sorted(entity_counts.values())
        # Category transitions from the head: they need consecutive rows, which the random sample does not keep.
        head_timestamps, head_entities = self._parse_time_and_entities(head, fitting=False)
        head_codes, head_observed = self.encode_cells(head)
        segment_rows = [rows for _, rows in self._segments(head_timestamps, head_entities, len(head))]
        self._fit_transitions(head_codes, head_observed, segment_rows)
        if self.time_info["kind"] == "datetime":
            # Calendar columns from the row sample: a column that is a function of a calendar key in the whole table
            # is one in any sample of its rows.
            timestamps, _ = self._parse_time_and_entities(sample, fitting=False)
            codes, observed = self.encode_cells(sample)
            self._fit_calendar_columns(sample, timestamps, codes, observed)
        return self

    def _fit_column(self, name: Any, series: pd.Series, original_dtype: Any) -> dict:
        role = "metadata" if name in self.metadata_columns else "static" if name in self.static_columns else "feature"
        observed = series.dropna()
        if len(observed) == 0:
            raise ValueError(
                f"Column {name!r} is entirely missing (NaN): drop it or fill it before fitting; a model cannot learn "
                "a column it never observes."
            )
        check_no_infinities(observed, name)
        kind = self.column_kinds.get(name) or self._infer_kind(name, series, observed)
        column = {
            "name": name,
            "kind": kind,
            "dtype": str(original_dtype),
            "role": role,
            "missing_rate": float(series.isna().mean()),
        }
        if isinstance(original_dtype, pd.CategoricalDtype):
            column["categorical_dtype"] = {
                "categories": [
                    value.item() if isinstance(value, np.generic) else value for value in original_dtype.categories
                ],
                "ordered": bool(original_dtype.ordered),
            }
        if kind == "continuous":
            values = to_float_array(observed, name)
            column.update(fit_quantile_scaler(values))
            column["integer"] = bool(np.all(np.mod(values, 1) == 0))
            column["decimals"] = count_decimals(values)
        else:
            categories = sorted_categories(observed, name)
            if kind == "binary" and len(categories) > 2:
                raise ValueError(
                    f"Column {name!r} is declared binary but has {len(categories)} distinct values "
                    f"({categories[:5]}...); declare it 'categorical' instead."
                )
            column["categories"] = categories
        return column

    def _infer_kind(self, name: str, series: pd.Series, observed: pd.Series) -> str:
        dtype = series.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            raise ValueError(
                f"Column {name!r} holds dates or durations, whose kind cannot be inferred: pass it as `time_column`, "
                "convert it to numbers, or drop it."
            )
        if pd.api.types.is_bool_dtype(dtype):
            return "binary"
        if pd.api.types.is_numeric_dtype(dtype):
            values = to_float_array(observed, name)
            num_unique = len(np.unique(values))
            if num_unique == 2:
                return "binary"
            is_integer_valued = bool(np.all(np.mod(values, 1) == 0))
            if is_integer_valued and 2 < num_unique <= self.categorical_threshold and num_unique * 4 <= len(values):
                return "categorical"
            return "continuous"
        python_types = {type(value) for value in observed.head(100_000)}
        if python_types - {str} and python_types - {bool}:
            if all(issubclass(kind, (int, float, np.number)) and not issubclass(kind, bool) for kind in python_types):
                return "continuous"
            raise ValueError(
                f"Column {name!r} mixes value types {sorted(kind.__name__ for kind in python_types)}; its kind cannot "
                "be inferred. Convert it to one type (e.g. `df[col].astype(str)`) or declare it in `column_kinds`."
            )
        num_unique = observed.nunique()
        if num_unique == 2:
            return "binary"
        if num_unique > self.max_categories:
            raise ValueError(
                f"Column {name!r} has {num_unique} distinct values, more than `max_categories`={self.max_categories}; "
                "it looks like an identifier or free text. Pass it as `entity_column`, drop it, or declare it "
                "in `column_kinds` as 'categorical' to allow a large vocabulary."
            )
        return "categorical"

    def _fit_time(self, timestamps: pd.Series | None, entities: pd.Series | None) -> dict:
        if timestamps is None:
            return {"kind": "index", "frequency": 1, "feature_names": ["position"]}
        order = sort_order(timestamps, entities)
        sorted_time = timestamps.iloc[order].reset_index(drop=True)
        sorted_entities = None if entities is None else entities.iloc[order].reset_index(drop=True)
        same_entity = (
            np.ones(len(sorted_time) - 1, dtype=bool)
            if sorted_entities is None
            else (sorted_entities.values[1:] == sorted_entities.values[:-1])
        )
        if pd.api.types.is_datetime64_any_dtype(sorted_time.dtype):
            timezone = self.__dict__.pop("_fit_timezone", None)
            local_time = pd.DatetimeIndex(sorted_time)
            if timezone:
                # The grid lives in local time: a day is a calendar day, also across daylight-saving changes.
                local_time = local_time.tz_localize("UTC").tz_convert(timezone)
            frequency = infer_datetime_frequency(local_time, same_entity)
            offset = to_offset(frequency)
            step_days = approximate_step_days(offset)
            feature_names = calendar_feature_names(step_days) + ["position"] + self._elapsed_feature_names()
            start, end = sorted_time.min(), sorted_time.max()
            time_info = {
                "kind": "datetime",
                "frequency": frequency,
                "dtype": self.__dict__.pop("_fit_time_dtype", str(timestamps.dtype)),
                "timezone": timezone,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "feature_names": feature_names,
            }
        else:
            differences = np.diff(sorted_time.to_numpy(dtype=float))[same_entity] if len(sorted_time) > 1 else []
            positive = np.asarray(differences)[np.asarray(differences) > 0]
            step = float(pd.Series(positive).mode().iloc[0]) if len(positive) else 1.0
            time_info = {
                "kind": "numeric",
                "frequency": int(step) if step.is_integer() else step,
                "dtype": str(timestamps.dtype),
                "start": float(sorted_time.min()),
                "end": float(sorted_time.max()),
                "feature_names": ["position"] + self._elapsed_feature_names(),
            }
        return time_info

    def _elapsed_feature_names(self) -> list[str]:
        return ["elapsed"] if self.elapsed_time else []

    # ------------------------------------------------------------------ encode
    def encode(
        self,
        table: Any,
        *,
        stride: int | None = None,
        cover_all_rows: bool = False,
        return_tensors: str | None = None,
        require_columns: bool = True,
    ) -> dict:
        """
        Cut a long table into windows of `sequence_length` steps, in model space.

        Args:
            table (`pd.DataFrame`, `datasets.Dataset` or path):
                Long table with the fitted columns (extra columns raise an error, missing ones too unless
                `require_columns=False`, in which case they are entirely missing).
            stride (`int`, *optional*):
                Step between window starts; defaults to the processor's `stride`.
            cover_all_rows (`bool`, *optional*, defaults to `False`):
                For inference (imputation): windows tile every row; segments shorter than a window are padded at
                the end with missing steps (`row_index == -1`). For training (`False`), only full windows inside
                contiguous runs of time steps are cut, and shorter entities/segments are reported in the log.
            return_tensors (`str`, *optional*):
                `"pt"` returns float32 torch tensors for `values`, `observed_mask` and `time_features`; the default
                returns float64 NumPy arrays (exact round trips).
            require_columns (`bool`, *optional*, defaults to `True`):
                Whether every fitted column must be present.

        Returns:
            `dict` with
            - `values` (`(num_windows, sequence_length, num_columns)`): scaled continuous values, category indices
              (as floats), 0 where missing;
            - `observed_mask` (same shape): 1 = observed, 0 = missing;
            - `time_features` (`(num_windows, sequence_length, num_time_features)`): calendar and position features;
            - `timestamps` (`(num_windows, sequence_length)`): the time value of each step;
            - `entity_ids` (`list`, length `num_windows`): the entity of each window (`None` without entity column);
            - `row_index` (`(num_windows, sequence_length)` int64): position of each step's row in the input table,
              `-1` for padding;
            - `report` (`dict`): number of windows, rows covered and entities/segments too short for a window.
        """
        self._check_fitted()
        frame = read_table(table)
        if len(frame) == 0:
            raise ValueError("The table is empty: nothing to encode.")
        stride = self.stride if stride is None else stride
        check_positive_int(stride, "stride")
        cell_values, cell_mask = self.encode_cells(frame, require_columns=require_columns)
        timestamps, entities = self._parse_time_and_entities(frame, fitting=False)
        segments = self._segments(timestamps, entities, len(frame))
        return self._cut_windows(
            cell_values, cell_mask, timestamps, entities, segments, stride, cover_all_rows, return_tensors
        )

    def encode_cells(self, frame: pd.DataFrame, require_columns: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Encode every row of `frame` (no windowing): `(num_rows, num_columns)` values and observed mask."""
        self._check_fitted()
        expected = set(self.column_names) | {self.time_column, self.entity_column} - {None}
        extra = [name for name in frame.columns if name not in expected]
        if extra:
            raise ValueError(
                f"The table has columns {extra} that the processor was not fitted on; expected only "
                f"{sorted(map(str, expected))}. Drop them before encoding."
            )
        missing = [name for name in self.column_names if name not in frame.columns]
        if missing and require_columns:
            raise ValueError(f"The table lacks fitted columns {missing}; add them (NaN cells are allowed).")
        num_rows = len(frame)
        values = np.zeros((num_rows, self.num_columns), dtype=np.float64)
        mask = np.zeros((num_rows, self.num_columns), dtype=np.float64)
        for index, column in enumerate(self.columns):
            name = column["name"]
            if name not in frame.columns:
                continue
            series = self._apply_missing_sentinels(frame[name], name)
            values[:, index], mask[:, index] = self._encode_column(column, series)
        return values, mask

    def _encode_column(self, column: dict, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        name = column["name"]
        is_missing = series.isna().to_numpy()
        observed = series[~is_missing]
        encoded = np.zeros(len(series), dtype=np.float64)
        if column["kind"] == "continuous":
            check_no_infinities(observed, name)
            encoded[~is_missing] = quantile_transform(to_float_array(observed, name), column)
        else:
            lookup = category_lookup(column["categories"])
            indices = np.array([lookup.get(category_key(value), -1) for value in observed.tolist()], dtype=np.int64)
            unseen = indices < 0
            if unseen.any():
                unseen_values = sorted({repr(value) for value in observed[unseen].tolist()})[:5]
                if self.handle_unknown == "error":
                    raise ValueError(
                        f"Column {name!r} has categories {unseen_values} that were not seen during fit (known: "
                        f"{column['categories'][:10]}). Refit on data that includes them, or create the processor "
                        "with handle_unknown='missing' to treat them as missing cells."
                    )
                logger.warning(f"Column {name!r}: unseen categories {unseen_values} are treated as missing cells.")
                observed_positions = np.flatnonzero(~is_missing)
                is_missing = is_missing.copy()
                is_missing[observed_positions[unseen]] = True
                indices = indices[~unseen]
            encoded[~is_missing] = indices
        return encoded, (~is_missing).astype(np.float64)

    def _segments(
        self, timestamps: pd.Series | None, entities: pd.Series | None, num_rows: int
    ) -> list[tuple[Any, np.ndarray]]:
        """Row positions of each contiguous run of time steps, per entity, in time order."""
        if timestamps is None and entities is None:
            return [(None, np.arange(num_rows))]
        order = sort_order(timestamps, entities)
        entity_values = None if entities is None else entities.to_numpy()[order]
        breaks = np.zeros(num_rows, dtype=bool)
        breaks[0] = True
        if entity_values is not None and num_rows > 1:
            breaks[1:] |= entity_values[1:] != entity_values[:-1]
        if timestamps is not None and num_rows > 1:
            sorted_time = timestamps.iloc[order].reset_index(drop=True)
            breaks[1:] |= ~self._is_next_step(sorted_time)
        entity_change = np.zeros(num_rows, dtype=bool)
        if entity_values is not None and num_rows > 1:
            entity_change[1:] = entity_values[1:] != entity_values[:-1]
        # A short time gap inside an entity is bridged with missing steps (row -1) instead of splitting the series.
        bridged = {}
        if timestamps is not None and self.max_gap > 0:
            for position in np.flatnonzero(breaks[1:] & ~entity_change[1:]) + 1:
                missing_steps = self._missing_steps(sorted_time.iloc[position - 1], sorted_time.iloc[position])
                if 0 < missing_steps <= self.max_gap:
                    bridged[position] = missing_steps
                    breaks[position] = False
        starts = np.flatnonzero(breaks)
        stops = np.append(starts[1:], num_rows)
        segments = []
        for start, stop in zip(starts, stops):
            pieces, previous = [], start
            for position in sorted(key for key in bridged if start < key < stop):
                pieces += [order[previous:position], np.full(bridged[position], -1, dtype=np.int64)]
                previous = position
            pieces.append(order[previous:stop])
            rows = np.concatenate(pieces).astype(np.int64)
            segments.append((None if entity_values is None else entity_values[start], rows))
        return segments

    def _missing_steps(self, previous: Any, current: Any) -> int:
        """Number of grid steps strictly between two timestamps (-1 when `current` is off the grid or too far)."""
        if self.time_info["kind"] == "datetime":
            try:
                step = pd.Timedelta(to_offset(self.time_info["frequency"]))
            except (ValueError, TypeError):
                step = pd.Timedelta(days=approximate_step_days(to_offset(self.time_info["frequency"])))
            if current - previous > step * (self.max_gap + 1) * 4:
                return -1
            grid = self.step_timestamps(previous, self.max_gap + 2)
            matches = np.flatnonzero(grid == np.datetime64(current))
            return int(matches[0]) - 1 if len(matches) else -1
        steps = (float(current) - float(previous)) / float(self.time_info["frequency"])
        return int(round(steps)) - 1 if np.isclose(steps, round(steps)) else -1

    def _is_next_step(self, sorted_time: pd.Series) -> np.ndarray:
        """For each consecutive pair, whether the second timestamp is exactly one step after the first."""
        if self.time_info["kind"] == "datetime":
            offset = to_offset(self.time_info["frequency"])
            index = pd.DatetimeIndex(sorted_time)
            if self.time_info.get("timezone"):
                index = index.tz_localize("UTC").tz_convert(self.time_info["timezone"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = index[:-1] + offset
            return np.asarray(expected == index[1:])
        values = sorted_time.to_numpy(dtype=float)
        return np.isclose(np.diff(values), float(self.time_info["frequency"]))

    def _cut_windows(
        self, cell_values, cell_mask, timestamps, entities, segments, stride, cover_all_rows, return_tensors
    ) -> dict:
        length = self.sequence_length
        window_rows, window_entities, too_short = [], [], []
        for entity, rows in segments:
            if len(rows) >= length:
                starts = list(range(0, len(rows) - length + 1, stride))
                if cover_all_rows and starts[-1] + length < len(rows):
                    starts.append(len(rows) - length)
                window_rows.extend(rows[start : start + length] for start in starts)
                window_entities.extend([entity] * len(starts))
            elif cover_all_rows:
                window_rows.append(np.concatenate([rows, np.full(length - len(rows), -1, dtype=np.int64)]))
                window_entities.append(entity)
            else:
                too_short.append((entity, len(rows)))
        if too_short:
            short_rows = sum(count for _, count in too_short)
            examples = ", ".join(f"{entity!r} ({count} rows)" for entity, count in too_short[:5])
            logger.warning(
                f"{len(too_short)} contiguous segment(s) ({short_rows} rows) are shorter than sequence_length="
                f"{length} and give no training window, e.g. {examples}. Segments are split at entity changes and "
                "at time gaps; lower `sequence_length` or fill the gaps to use them."
            )
        if not window_rows:
            raise ValueError(
                f"No window of sequence_length={length} fits in the table: every entity/contiguous segment is "
                f"shorter (longest has {max((count for _, count in too_short), default=0)} rows). Lower "
                "`sequence_length`, or pass `cover_all_rows=True` for inference."
            )
        row_index = np.stack(window_rows).astype(np.int64)
        # A bridged gap as long as a window would give windows without any real row: they carry no information.
        row_index = row_index[(row_index >= 0).any(axis=1)]
        window_entities = [
            entity for entity, keep in zip(window_entities, (np.stack(window_rows) >= 0).any(axis=1)) if keep
        ]
        padding = row_index < 0
        safe_rows = np.where(padding, 0, row_index)
        values = cell_values[safe_rows]
        mask = cell_mask[safe_rows]
        values[padding] = 0.0
        mask[padding] = 0.0
        step_times = self._window_timestamps(timestamps, row_index)
        time_features = self.time_features(step_times)
        result = {
            "values": values,
            "observed_mask": mask,
            "time_features": time_features,
            "timestamps": step_times,
            "entity_ids": window_entities,
            "row_index": row_index,
            "report": {
                "num_windows": len(row_index),
                "num_rows_covered": int(np.unique(row_index[~padding]).size),
                "num_short_segments": len(too_short),
                "num_rows_in_short_segments": int(sum(count for _, count in too_short)),
            },
        }
        if return_tensors == "pt":
            import torch

            for key in ("values", "observed_mask", "time_features"):
                result[key] = torch.from_numpy(result[key]).float()
        elif return_tensors not in (None, "np"):
            raise ValueError(f"`return_tensors` must be None, 'np' or 'pt', got {return_tensors!r}.")
        return result

    def _window_timestamps(self, timestamps: pd.Series | None, row_index: np.ndarray) -> np.ndarray:
        """Timestamps per window step; padding steps continue the series at the fitted frequency."""
        num_windows, length = row_index.shape
        if timestamps is None:
            positions = np.where(row_index >= 0, row_index, 0).astype(np.int64)
            first = positions[:, :1]
            return (first + np.arange(length)[None, :]).astype(np.int64)
        known = row_index >= 0
        first_known = np.argmax(known, axis=1)
        anchor_rows = row_index[np.arange(num_windows), first_known]
        if self.time_info["kind"] == "datetime":
            result = np.empty((num_windows, length), dtype="datetime64[ns]")
            result[known] = timestamps.to_numpy()[row_index[known]]
            for window in np.flatnonzero((~known).any(axis=1)):
                result[window] = self.grid_timestamps(
                    timestamps.iloc[anchor_rows[window]], int(first_known[window]), length
                )
            return result
        values = timestamps.to_numpy(dtype=float)
        result = np.zeros((num_windows, length), dtype=float)
        result[known] = values[row_index[known]]
        for window in np.flatnonzero((~known).any(axis=1)):
            result[window] = self.grid_timestamps(values[anchor_rows[window]], int(first_known[window]), length)
        return result

    # ------------------------------------------------------------------ timestamps and time features
    def step_timestamps(self, start: Any, num_steps: int) -> np.ndarray:
        """`num_steps` consecutive timestamps starting at `start` (included), at the fitted frequency.

        `start` is in the internal time representation (naive UTC for datetimes), see `to_internal_time`.
        """
        return self.grid_timestamps(start, 0, num_steps)

    def step_timestamps_for_starts(self, starts: list, num_steps: int) -> np.ndarray:
        """`step_timestamps` for many starts at once: `(len(starts), num_steps)`.

        Fixed-length steps (hours, minutes, days without a time zone) are added in one array operation; calendar
        steps (months, business days) and time zones go through `step_timestamps` one start at a time.
        """
        self._check_fitted()
        if self.time_info["kind"] == "datetime" and not self.time_info.get("timezone"):
            offset = to_offset(self.time_info["frequency"])
            if isinstance(offset, Tick):
                first = np.asarray([pd.Timestamp(start).to_datetime64() for start in starts], dtype="datetime64[ns]")
                steps = np.arange(num_steps) * np.timedelta64(offset.nanos, "ns")
                return first[:, None] + steps[None, :]
        return np.stack([self.step_timestamps(start, num_steps) for start in starts])

    def grid_timestamps(self, anchor: Any, anchor_position: int, num_steps: int) -> np.ndarray:
        """`num_steps` grid timestamps such that the one at `anchor_position` equals `anchor` (internal time)."""
        self._check_fitted()
        if self.time_info["kind"] != "datetime":
            step = float(self.time_info["frequency"])
            return float(anchor) + step * (np.arange(num_steps) - anchor_position)
        anchor = pd.Timestamp(anchor)
        timezone = self.time_info.get("timezone")
        if timezone:
            anchor = anchor.tz_localize("UTC").tz_convert(timezone)
        frequency = self.time_info["frequency"]
        before = pd.date_range(end=anchor, periods=anchor_position + 1, freq=frequency)
        after = pd.date_range(start=anchor, periods=num_steps - anchor_position, freq=frequency)
        index = before[:-1].append(after)
        if timezone:
            index = index.tz_convert("UTC").tz_localize(None)
        return index.to_numpy().astype("datetime64[ns]")

    def to_internal_time(self, value: Any) -> Any:
        """A user-given time (string, Timestamp or number) in the internal representation (naive UTC)."""
        self._check_fitted()
        if self.time_info["kind"] != "datetime":
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                return float(value)
            raise ValueError(f"`start` must be a number for a numeric time axis, got {value!r}.")
        try:
            timestamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise ValueError(f"`start` must be a timestamp (e.g. '2024-01-01 00:00'), got {value!r}.") from None
        timezone = self.time_info.get("timezone")
        if timestamp.tz is None and timezone:
            timestamp = timestamp.tz_localize(timezone)
        if timestamp.tz is not None:
            timestamp = timestamp.tz_convert("UTC").tz_localize(None)
        return timestamp

    def next_timestamps(self, last: Any, num_steps: int) -> np.ndarray:
        """The `num_steps` timestamps that follow `last` (excluded): the future horizon of a forecast."""
        return self.step_timestamps(last, num_steps + 1)[1:]

    def random_start_timestamps(self, num_sequences: int, generator: np.random.Generator) -> np.ndarray:
        """Start times drawn uniformly on the fitted time grid between the first and last training timestamps."""
        self._check_fitted()
        kind = self.time_info["kind"]
        if kind == "index":
            return np.zeros(num_sequences, dtype=np.int64)
        if kind == "numeric":
            step = float(self.time_info["frequency"])
            num_positions = max(1, int((self.time_info["end"] - self.time_info["start"]) / step) + 1)
            choices = generator.integers(0, num_positions, size=num_sequences)
            return self.time_info["start"] + step * choices
        grid = pd.date_range(self.time_info["start"], self.time_info["end"], freq=self.time_info["frequency"])
        if len(grid) == 0:
            grid = pd.DatetimeIndex([pd.Timestamp(self.time_info["start"])])
        return grid[generator.integers(0, len(grid), size=num_sequences)].to_numpy()

    def time_features(self, timestamps: np.ndarray) -> np.ndarray:
        """
        Calendar features (sine/cosine of the cycles that matter at the fitted frequency), the relative position
        in the window and, with `elapsed_time`, the position in the fitted time span.

        Args:
            timestamps (`np.ndarray` of shape `(num_windows, sequence_length)`).

        Returns:
            `np.ndarray` of shape `(num_windows, sequence_length, num_time_features)`, float64.
        """
        self._check_fitted()
        num_windows, length = timestamps.shape
        position = np.broadcast_to(
            np.linspace(-1.0, 1.0, length) if length > 1 else np.zeros(1), (num_windows, length)
        )
        names = self.time_info["feature_names"]
        features = []
        if self.time_info["kind"] == "datetime":
            index = self._local_index(timestamps)
            cycles = {
                "hour_of_day": (index.hour + index.minute / 60.0, 24.0),
                "day_of_week": (index.day_of_week, 7.0),
                "day_of_year": (index.day_of_year - 1, 365.25),
                "month_of_year": (index.month - 1, 12.0),
            }
            for name in names:
                if name in ("position", "elapsed"):
                    continue
                cycle, function = name.rsplit("_", 1)
                phase, period = cycles[cycle]
                angle = 2 * np.pi * np.asarray(phase, dtype=float) / period
                features.append((np.sin(angle) if function == "sin" else np.cos(angle)).reshape(num_windows, length))
        features.append(np.asarray(position, dtype=float))
        if "elapsed" in names:
            features.append(self._elapsed(timestamps))
        return np.stack(features, axis=-1)

    def _elapsed(self, timestamps: np.ndarray) -> np.ndarray:
        """Position of each timestamp in the fitted span, scaled to [-1, 1] and held at the ends outside it."""
        if self.time_info["kind"] == "datetime":
            # Internal timestamps and the fitted span are naive UTC.
            start, end = pd.Timestamp(self.time_info["start"]), pd.Timestamp(self.time_info["end"])
            offsets = (pd.DatetimeIndex(timestamps.reshape(-1)) - start).total_seconds().to_numpy()
            span = (end - start).total_seconds()
        else:
            start, end = float(self.time_info["start"]), float(self.time_info["end"])
            offsets = timestamps.reshape(-1).astype(float) - start
            span = end - start
        scaled = 2.0 * offsets / span - 1.0 if span > 0 else np.zeros(offsets.shape)
        return np.clip(scaled, -1.0, 1.0).reshape(timestamps.shape)

    # ------------------------------------------------------------------ decode
    def decode(
        self,
        values: Any,
        *,
        observed_mask: Any | None = None,
        timestamps: np.ndarray | None = None,
        entity_ids: list | None = None,
        sequence_ids: list | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """
        Turn model-space windows back into a long DataFrame with the original columns, order, dtypes and categories.

        Args:
            values (`np.ndarray` or `torch.Tensor` of shape `(num_windows, sequence_length, num_columns)`):
                Scaled continuous values and category indices (rounded to the nearest valid index).
            observed_mask (same shape, *optional*):
                Cells where it is 0 come out as missing (NaN/None).
            timestamps (`np.ndarray` of shape `(num_windows, sequence_length)`, *optional*):
                Time value of every step; written to the time column when the processor has one.
            entity_ids (`list`, *optional*):
                Entity of each window, written to the entity column.
            sequence_ids (`list` or `np.ndarray`, *optional*):
                Sequence number of each window (defaults to `0..num_windows-1`); used as the `sequence_id` column when
                there are no entity ids.

        Returns:
            `pd.DataFrame` with `num_windows * sequence_length` rows.
        """
        self._check_fitted()
        values = to_numpy(values).astype(np.float64, copy=False)
        if values.ndim != 3 or values.shape[-1] != self.num_columns:
            raise ValueError(
                f"`values` must have shape (num_windows, sequence_length, {self.num_columns}), got {values.shape}."
            )
        num_windows, length, _ = values.shape
        flat = values.reshape(-1, self.num_columns)
        flat_mask = None if observed_mask is None else to_numpy(observed_mask).reshape(-1, self.num_columns) > 0.5
        decoded = {}
        for index, column in enumerate(self.columns):
            missing = None if flat_mask is None else ~flat_mask[:, index]
            decoded[column["name"]] = self.decode_column(column, flat[:, index], missing)
        output = {}
        if self.entity_column is not None and entity_ids is not None:
            output[self.entity_column] = np.repeat(np.asarray(entity_ids, dtype=object), length)
        else:
            ids = np.arange(num_windows) if sequence_ids is None else np.asarray(sequence_ids)
            output["sequence_id"] = np.repeat(ids, length)
        if self.time_column is not None and timestamps is not None:
            output[self.time_column] = self._decode_timestamps(np.asarray(timestamps).reshape(-1))
        frame = pd.DataFrame(output)
        for name in self.column_order:
            if name in decoded:
                frame[name] = decoded[name]
        leading = [name for name in frame.columns if name not in self.column_order]
        ordered = leading + [name for name in self.column_order if name in frame.columns]
        frame = frame[ordered]
        if self.entity_column is not None and entity_ids is not None:
            frame[self.entity_column] = restore_dtype(frame[self.entity_column], self.time_info.get("entity_dtype"))
        return frame

    def decode_column(self, column: dict, encoded: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
        """Invert the encoding of one column: model-space floats → values with the original dtype."""
        if column["kind"] == "continuous":
            result = round_like_column(inverse_quantile_transform(encoded, column), column)
            if missing is not None:
                result = np.where(missing, np.nan, result)
            return restore_dtype(pd.Series(result), column["dtype"])
        categories = column["categories"]
        indices = np.clip(np.rint(np.nan_to_num(encoded)), 0, len(categories) - 1).astype(np.int64)
        objects = np.empty(len(indices), dtype=object)
        objects[:] = [categories[index] for index in indices]
        if missing is not None and missing.any():
            objects[missing] = None
        series = pd.Series(objects, dtype=object)
        declared = column.get("categorical_dtype")
        if declared is not None:
            return pd.Series(pd.Categorical(series, categories=declared["categories"], ordered=declared["ordered"]))
        return restore_dtype(series, column["dtype"], categories=categories)

    def _decode_timestamps(self, flat: np.ndarray) -> pd.Series:
        kind = self.time_info["kind"]
        if kind == "datetime":
            series = pd.Series(pd.DatetimeIndex(flat))
            timezone = self.time_info.get("timezone")
            if timezone is not None and series.dt.tz is None:
                series = series.dt.tz_localize("UTC").dt.tz_convert(timezone)
            try:
                return series.astype(self.time_info.get("dtype") or series.dtype)
            except (TypeError, ValueError):
                return series
        return restore_dtype(pd.Series(flat), self.time_info.get("dtype"))

    # ------------------------------------------------------------------ feature space for metrics
    def to_features(self, values: Any, observed_mask: Any | None = None) -> np.ndarray:
        """
        Model-space windows → the evaluation feature space: scaled continuous, 0/1 binary, one-hot categorical.

        Args:
            values (`(num_windows, sequence_length, num_columns)`): as returned by `encode`.
            observed_mask (same shape, *optional*): missing cells become NaN in every feature of their column.

        Returns:
            `np.ndarray` of shape `(num_windows, sequence_length, num_features)`, float32, layout `feature_layout()`.
        """
        values = to_numpy(values).astype(np.float64, copy=False)
        mask = None if observed_mask is None else to_numpy(observed_mask) > 0.5
        parts = []
        for index, (column, layout) in enumerate(zip(self.columns, self.feature_layout())):
            width = layout["stop"] - layout["start"]
            if column["kind"] == "categorical":
                codes = np.clip(np.rint(values[..., index]), 0, width - 1).astype(np.int64)
                part = np.eye(width, dtype=np.float64)[codes]
            else:
                part = values[..., index : index + 1].copy()
            if mask is not None:
                part[~mask[..., index]] = np.nan
            parts.append(part)
        return np.concatenate(parts, axis=-1).astype(np.float32)

    # ------------------------------------------------------------------ splitting
    def split(
        self, table: Any, validation_fraction: float = 0.1, by: str = "time", num_blocks: int = 1
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """
        Split a long table for validation without shuffling rows across time.

        Args:
            table: the long table.
            validation_fraction (`float`, *optional*, defaults to 0.1): share of rows (or entities) held out.
            by (`str`, *optional*, defaults to `"time"`): `"time"` holds out, within each entity, time blocks;
                `"entity"` holds out whole entities (chosen deterministically by sorted entity value).
            num_blocks (`int`, *optional*, defaults to 1): with `by="time"`, the number of interleaved held-out
                blocks; 1 means the final period.

        Returns:
            `(train_table, validation_table)`: two DataFrames with the original index.
        """
        frame = read_table(table)
        if not 0 < validation_fraction < 1:
            raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction!r}.")
        check_positive_int(num_blocks, "num_blocks")
        if by == "entity":
            if self.entity_column is None:
                raise ValueError("`by='entity'` needs an `entity_column`.")
            entities = sorted(frame[self.entity_column].dropna().unique().tolist(), key=str)
            count = max(1, int(round(len(entities) * validation_fraction)))
            held_out = set(entities[-count:])
            is_validation = frame[self.entity_column].isin(held_out).to_numpy()
        elif by == "time":
            timestamps, entities = self._parse_time_and_entities(frame, fitting=not self.is_fitted)
            is_validation = np.zeros(len(frame), dtype=bool)
            groups = (
                [np.arange(len(frame))] if entities is None else list(frame.groupby(entities.values).indices.values())
            )
            for rows in groups:
                ordered = (
                    rows[np.argsort(timestamps.iloc[rows].to_numpy(), kind="stable")]
                    if timestamps is not None
                    else rows
                )
                count = len(ordered)
                block_edges = np.linspace(0, count, num_blocks + 1).astype(int)
                for block_start, block_stop in zip(block_edges[:-1], block_edges[1:]):
                    held = int(round((block_stop - block_start) * validation_fraction))
                    is_validation[ordered[block_stop - held : block_stop]] = True
        else:
            raise ValueError(f"`by` must be 'time' or 'entity', got {by!r}.")
        return frame[~is_validation], frame[is_validation]

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if self.columns is None:
            raise ValueError("The processor is not fitted: call `processor.fit(table)` first.")

    def _check_declared_columns(self, frame: pd.DataFrame) -> None:
        declared = {
            "time_column": [self.time_column] if self.time_column else [],
            "entity_column": [self.entity_column] if self.entity_column else [],
            "metadata_columns": self.metadata_columns,
            "static_columns": self.static_columns,
            "column_kinds": list(self.column_kinds),
            "missing_values": list(self.missing_values),
        }
        for argument, names in declared.items():
            unknown = [name for name in names if name not in frame.columns]
            if unknown:
                raise ValueError(
                    f"`{argument}` names columns {unknown} that are not in the table; available columns: "
                    f"{list(map(str, frame.columns))}."
                )
        if self.time_column is not None and self.time_column == self.entity_column:
            raise ValueError("`time_column` and `entity_column` must be different columns.")
        for name in self.metadata_columns + self.static_columns:
            if name in (self.time_column, self.entity_column):
                raise ValueError(f"Column {name!r} cannot be both a time/entity column and a metadata/static column.")

    def _apply_missing_sentinels(self, series: pd.Series, name: str) -> pd.Series:
        sentinels = self.missing_values.get(name)
        if not sentinels:
            return series
        return series.mask(series.isin(sentinels))

    def _parse_time_and_entities(
        self, frame: pd.DataFrame, fitting: bool
    ) -> tuple[pd.Series | None, pd.Series | None]:
        entities = None
        if self.entity_column is not None:
            if self.entity_column not in frame.columns:
                raise ValueError(f"The table lacks the entity column {self.entity_column!r}.")
            entities = frame[self.entity_column].reset_index(drop=True)
            if entities.isna().any():
                raise ValueError(
                    f"Entity column {self.entity_column!r} has {int(entities.isna().sum())} missing values; every "
                    "row must belong to an entity."
                )
        timestamps = None
        if self.time_column is not None:
            if self.time_column not in frame.columns:
                raise ValueError(f"The table lacks the time column {self.time_column!r}.")
            timestamps = parse_timestamps(frame[self.time_column], self.time_column)
            expected_kind = None if self.time_info is None else self.time_info["kind"]
            actual_kind = "datetime" if pd.api.types.is_datetime64_any_dtype(timestamps.dtype) else "numeric"
            if expected_kind is not None and expected_kind != actual_kind:
                raise ValueError(
                    f"Time column {self.time_column!r} holds {actual_kind} values, but the processor was fitted on "
                    f"{expected_kind} values."
                )
            if actual_kind == "datetime":
                timezone = str(timestamps.dt.tz) if timestamps.dt.tz is not None else None
                if expected_kind is not None and timezone != self.time_info.get("timezone"):
                    fitted = self.time_info.get("timezone")
                    raise ValueError(
                        f"Time column {self.time_column!r} has time zone {timezone!r} but the processor was fitted "
                        f"on {fitted!r}; convert with `pd.to_datetime(...).dt.tz_convert({fitted!r})`"
                        + (" or `.dt.tz_localize(...)`." if fitted and not timezone else ".")
                    )
                if fitting:
                    self._fit_timezone = timezone
                    self._fit_time_dtype = str(timestamps.dtype)
                if timezone is not None:
                    # Internally every timestamp is naive UTC; calendar features and outputs use the local zone.
                    timestamps = timestamps.dt.tz_convert("UTC").dt.tz_localize(None)
            check_unique_timestamps(timestamps, entities, self.time_column, self.entity_column)
        return timestamps, entities


# ---------------------------------------------------------------------- module-level helpers
def check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def normalize_sentinels(value: Any) -> list:
    values = value if isinstance(value, (list, tuple, set)) else [value]
    return [item.item() if isinstance(item, np.generic) else item for item in values]


def check_no_infinities(observed: pd.Series, name: str) -> None:
    if pd.api.types.is_numeric_dtype(observed.dtype) and not pd.api.types.is_bool_dtype(observed.dtype):
        values = observed.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(values).any():
            raise ValueError(
                f"Column {name!r} has {int(np.isinf(values).sum())} infinite values; replace them with NaN (missing) "
                "or finite numbers."
            )


def to_float_array(observed: pd.Series, name: str) -> np.ndarray:
    try:
        return observed.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Column {name!r} is continuous but holds non-numeric values: {error}") from None


def category_key(value: Any) -> Any:
    """A hashable key for a category value that keeps bools, ints and strings apart."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return ("number", int(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("number", value)
    return (type(value).__name__, value)


def category_lookup(categories: list) -> dict:
    return {category_key(value): index for index, value in enumerate(categories)}


def reindex_transition_counts(counts: list, categories: list, new_categories: list) -> list:
    """A column's transition counts over `categories`, re-indexed for a vocabulary that contains them."""
    lookup = category_lookup(new_categories)
    positions = [lookup[category_key(value)] for value in categories]
    widened = np.zeros((len(new_categories), len(new_categories)), dtype=np.int64)
    widened[np.ix_(positions, positions)] = counts
    return widened.tolist()


def sorted_categories(observed: pd.Series, name: str) -> list:
    """Distinct values sorted deterministically (numbers numerically, strings lexicographically), as JSON types."""
    unique = pd.unique(observed.to_numpy(dtype=object))
    values = [value.item() if isinstance(value, np.generic) else value for value in unique]
    types = {type(value) for value in values}
    if len(types) > 1 and not types <= {int, float}:
        raise ValueError(
            f"Column {name!r} mixes value types {sorted(kind.__name__ for kind in types)}; convert it to one type "
            "(e.g. `df[col].astype(str)`) before fitting."
        )
    for value in values:
        if not isinstance(value, (str, bool, int, float)):
            raise ValueError(
                f"Column {name!r} holds values of type {type(value).__name__!r}, which cannot be stored as "
                "categories; convert them to strings or numbers."
            )
    values = [int(value) if isinstance(value, float) and value.is_integer() else value for value in values]
    return sorted(set(values))


def round_like_column(values: np.ndarray, column: dict) -> np.ndarray:
    """Round continuous values the way the fitted column's data was written (integers or fixed decimals)."""
    if column.get("integer"):
        return np.round(values)
    if column.get("decimals") is not None:
        return np.round(values, column["decimals"])
    return values


def count_decimals(values: np.ndarray, max_decimals: int = 10) -> int | None:
    """Smallest number of decimals that reproduces every value exactly, or None beyond `max_decimals`."""
    sample = values[:200_000]
    largest = float(np.abs(sample).max()) if len(sample) else 0.0
    for decimals in range(max_decimals + 1):
        if largest * 10.0**decimals >= 2.0**53:
            # Beyond float64's exact integers, rounding cannot promise an exact round trip.
            return None
        if np.array_equal(np.round(sample, decimals), sample):
            return decimals
    return None


def fit_quantile_scaler(values: np.ndarray) -> dict:
    """Knots of a monotone piecewise-linear map from values to standard-normal scores (exactly invertible)."""
    normal = NormalDist()
    levels = np.linspace(0.0, 1.0, NUM_QUANTILE_KNOTS)
    quantiles = np.quantile(values, levels)
    knots, first_index = np.unique(quantiles, return_index=True)
    # Each distinct knot takes the mean level of the quantiles that coincide with it, so heavy ties (a column that
    # is mostly 0) map to one score in the middle of their probability mass.
    level_sums = np.add.reduceat(levels, first_index)
    counts = np.diff(np.append(first_index, len(levels)))
    mean_levels = level_sums / counts
    squeezed = QUANTILE_EDGE + (1 - 2 * QUANTILE_EDGE) * mean_levels
    scores = np.array([normal.inv_cdf(float(level)) for level in squeezed])
    if len(knots) == 1:
        scores = np.zeros(1)
    return {
        "knots": [float(knot) for knot in knots],
        "scores": [float(score) for score in scores],
        "min": float(values.min()),
        "max": float(values.max()),
    }


def quantile_transform(values: np.ndarray, column: dict) -> np.ndarray:
    knots, scores = np.asarray(column["knots"]), np.asarray(column["scores"])
    return piecewise_linear(values, knots, scores)


def inverse_quantile_transform(scores: np.ndarray, column: dict) -> np.ndarray:
    knots, knot_scores = np.asarray(column["knots"]), np.asarray(column["scores"])
    return piecewise_linear(np.asarray(scores, dtype=np.float64), knot_scores, knots)


def piecewise_linear(inputs: np.ndarray, x_points: np.ndarray, y_points: np.ndarray) -> np.ndarray:
    """Linear interpolation with linear extrapolation beyond both ends (so the map stays invertible)."""
    if len(x_points) == 1:
        return np.full_like(inputs, y_points[0], dtype=np.float64)
    outputs = np.interp(inputs, x_points, y_points)
    low_slope = (y_points[1] - y_points[0]) / (x_points[1] - x_points[0])
    high_slope = (y_points[-1] - y_points[-2]) / (x_points[-1] - x_points[-2])
    below, above = inputs < x_points[0], inputs > x_points[-1]
    outputs[below] = y_points[0] + (inputs[below] - x_points[0]) * low_slope
    outputs[above] = y_points[-1] + (inputs[above] - x_points[-1]) * high_slope
    return outputs


def restore_dtype(series: pd.Series, dtype: str | None, categories: list | None = None) -> pd.Series:
    """Cast decoded values back to the column's original dtype (nullable variants where cells are missing)."""
    if dtype is None:
        return series
    has_missing = bool(series.isna().any())
    try:
        if dtype == "category":
            return pd.Series(pd.Categorical(series, categories=categories))
        if dtype == "bool":
            return series.astype("boolean" if has_missing else bool)
        if dtype.startswith(("int", "uint")):
            return series.astype(dtype.replace("int", "Int").replace("uInt", "UInt") if has_missing else dtype)
        if dtype in ("Int64", "Int32", "Int16", "Int8", "boolean", "UInt8", "UInt16", "UInt32", "UInt64"):
            return series.astype(dtype)
        if dtype.startswith("float"):
            return series.astype(dtype)
        if dtype in ("str", "string"):
            return series.astype(dtype)
    except (TypeError, ValueError):
        return series
    return series


def to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def parse_timestamps(series: pd.Series, name: str) -> pd.Series:
    """Parse a time column: datetimes stay, numbers are time steps, strings are parsed by pandas."""
    series = series.reset_index(drop=True)
    if series.isna().any():
        raise ValueError(
            f"Time column {name!r} has {int(series.isna().sum())} missing values; every row needs a timestamp."
        )
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ValueError(f"Time column {name!r} holds booleans, expected timestamps or numeric time steps.")
    if pd.api.types.is_numeric_dtype(series.dtype):
        if np.isinf(series.to_numpy(dtype=float)).any():
            raise ValueError(f"Time column {name!r} has infinite values.")
        return series
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series)
    except (ValueError, TypeError, OverflowError) as error:
        message = str(error)
        if "timezone" in message.lower():
            raise ValueError(
                f"Time column {name!r} mixes time zones; convert it first, e.g. "
                f"`df[{name!r}] = pd.to_datetime(df[{name!r}], utc=True)`."
            ) from None
        try:
            parsed = pd.to_datetime(series, format="mixed")
        except (ValueError, TypeError, OverflowError):
            raise ValueError(
                f"Time column {name!r} could not be parsed as timestamps ({message}); pass datetimes, ISO strings or "
                "numeric time steps."
            ) from None
    if not pd.api.types.is_datetime64_any_dtype(parsed.dtype):
        raise ValueError(
            f"Time column {name!r} mixes time zones; convert it first, e.g. "
            f"`df[{name!r}] = pd.to_datetime(df[{name!r}], utc=True)`."
        )
    return parsed


def check_unique_timestamps(timestamps: pd.Series, entities: pd.Series | None, time_name: str, entity_name) -> None:
    keys = (
        pd.DataFrame({"time": timestamps})
        if entities is None
        else pd.DataFrame({"entity": entities, "time": timestamps})
    )
    duplicated = keys.duplicated()
    if duplicated.any():
        example = keys[duplicated].iloc[0].to_dict()
        subset = [time_name] if entity_name is None else [entity_name, time_name]
        raise ValueError(
            f"Time column {time_name!r} has {int(duplicated.sum())} duplicate timestamps"
            f"{' within an entity' if entities is not None else ''} (e.g. {example}). Keep one row per time step, "
            "e.g. "
            f"`df.drop_duplicates(subset={subset}, keep='first')` or aggregate with `df.groupby({subset}).agg(...)`."
        )


def sort_order(timestamps: pd.Series | None, entities: pd.Series | None) -> np.ndarray:
    """Row positions sorted by entity (in order of first appearance), then by time; stable."""
    if timestamps is None and entities is None:
        raise ValueError("Internal error: sorting needs timestamps or entities.")
    if timestamps is None:
        return np.argsort(pd.factorize(entities)[0], kind="stable")
    time_key = timestamps.to_numpy()
    if entities is None:
        return np.argsort(time_key, kind="stable")
    return np.lexsort((time_key, pd.factorize(entities)[0]))


def infer_datetime_frequency(values: pd.DatetimeIndex, same_entity: np.ndarray) -> str:
    """The step of the time grid: pandas' `infer_freq` on a clean run when it works, else the most common gap.

    `values` are sorted within each entity and may be timezone-aware (local time).
    """
    if len(values) < 2 or not same_entity.any():
        return "D"
    differences = pd.Series(values[1:] - values[:-1])[same_entity]
    differences = differences[differences > pd.Timedelta(0)]
    if differences.empty:
        return "D"
    step = differences.mode().iloc[0]
    first_entity_end = int(np.argmin(same_entity)) + 1 if not same_entity.all() else len(values)
    candidate = values[: min(first_entity_end, 2000)]
    if len(candidate) >= 3:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inferred = pd.infer_freq(candidate)
            inferred = getattr(inferred, "freqstr", inferred)
        except (ValueError, TypeError):
            inferred = None
        if inferred:
            return to_offset(inferred).freqstr
    days = step / pd.Timedelta(days=1)
    if days == 1 and (values.day_of_week >= 5).mean() < 0.01 and len(values) >= 10:
        return "B"
    if days >= 1 and days == int(days) and days < 28:
        return "D" if days == 1 else f"{int(days)}D"
    if 28 <= days <= 31:
        if (values.day == 1).mean() > 0.9:
            return "MS"
        if values.is_month_end.mean() > 0.9:
            return "ME"
    return to_offset(step).freqstr


def approximate_step_days(offset) -> float:
    try:
        return pd.Timedelta(offset) / pd.Timedelta(days=1)
    except (ValueError, TypeError):
        name = getattr(offset, "rule_code", None) or str(offset)
        if name.startswith(("M", "BM", "SM", "CBM")):
            return 30.0 * getattr(offset, "n", 1)
        if name.startswith(("Q", "BQ")):
            return 91.0 * getattr(offset, "n", 1)
        if name.startswith(("Y", "A", "BY", "BA")):
            return 365.0 * getattr(offset, "n", 1)
        if name.startswith(("W",)):
            return 7.0 * getattr(offset, "n", 1)
        return 1.0 * getattr(offset, "n", 1)


def calendar_feature_names(step_days: float) -> list[str]:
    """The calendar cycles that vary at this step: fine steps see daily and weekly cycles, coarse ones seasons."""
    cycles = []
    if step_days < 1:
        cycles.append("hour_of_day")
    if step_days < 7:
        cycles.append("day_of_week")
    if step_days < 28:
        cycles.append("day_of_year")
    elif step_days < 365:
        cycles.append("month_of_year")
    return [f"{cycle}_{function}" for cycle in cycles for function in ("sin", "cos")]
