"""
Training windows from a table read chunk by chunk, for tables larger than memory.

The table is never held whole: each chunk is encoded on its own, with the last `sequence_length - 1` rows of the
previous chunk's last entity carried over, so windows that straddle a chunk boundary are cut exactly once and the
windows of the stream are those of the whole table (with `stride=1`). A shuffle buffer of windows mixes chunks before
batching. Streams must list each entity's rows in time order and each entity's rows together (the order a sorted
export or a partitioned Parquet folder has); anything else is refused with an error, never silently mis-windowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from .processing_timeautodiff import TimeAutoDiffProcessor
from .processing_timeautodiff import logger as processing_logger


class StreamingWindows:
    """
    Re-iterable source of training windows over a chunked table.

    Args:
        processor (`TimeAutoDiffProcessor`): a fitted processor (see `TimeAutoDiffProcessor.fit_chunks`).
        open_chunks (`Callable[[], Iterable[pd.DataFrame]]`): returns a fresh iterator over the table's chunks; it is
            called once per pass (epoch).
    """

    def __init__(self, processor: TimeAutoDiffProcessor, open_chunks: Callable[[], Iterable[pd.DataFrame]]):
        if not processor.is_fitted:
            raise ValueError("`StreamingWindows` needs a fitted processor; call `fit_chunks` first.")
        self.processor = processor
        self.open_chunks = open_chunks
        self.windows_per_pass: int | None = None

    def iter_windows(self) -> Iterator[dict[str, np.ndarray]]:
        """One pass over the table: per chunk, the new windows' `values`, `observed_mask`, `time_features` and
        `step_mask` (1 for real steps, 0 for padding of bridged gaps)."""
        processor = self.processor
        keep = processor.sequence_length - 1
        order = StreamOrderCheck(processor)
        tail = None
        count = 0
        for chunk in self.open_chunks():
            if len(chunk) == 0:
                continue
            order.check(chunk)
            frame = chunk if tail is None or not len(tail) else pd.concat([tail, chunk], ignore_index=True)
            num_carried = 0 if tail is None else len(tail)
            windows = encode_or_none(processor, frame)
            if windows is not None:
                new = windows["row_index"].max(axis=1) >= num_carried
                count += int(new.sum())
                if new.any():
                    yield {
                        "values": windows["values"][new].astype(np.float32),
                        "observed_mask": windows["observed_mask"][new].astype(np.float32),
                        "time_features": windows["time_features"][new].astype(np.float32),
                        "step_mask": (windows["row_index"][new] >= 0).astype(np.float32),
                    }
            tail = last_rows_of_last_entity(frame, processor.entity_column, keep)
        self.windows_per_pass = count

    def global_batches(self, batch_size: int, shuffle_buffer: int, seed: int) -> Iterator[dict[str, np.ndarray]]:
        """
        Endless batches of `batch_size` windows, pass after pass; the order depends only on `seed` and the pass, so
        every process draws the same global batches (each then takes its own slice) and a resumed run can skip the
        batches it has already trained on.
        """
        if batch_size < 1 or shuffle_buffer < 1:
            raise ValueError(
                f"`batch_size` and `shuffle_buffer` must be positive, got {batch_size} and {shuffle_buffer}."
            )
        epoch = 0
        while True:
            rng = np.random.default_rng([seed, epoch])
            buffer: list[dict[str, np.ndarray]] = []
            buffered = emitted = 0
            for windows in self.iter_windows():
                buffer.append(windows)
                buffered += len(windows["values"])
                if buffered >= max(shuffle_buffer, batch_size):
                    batches, remainder = full_batches(shuffled(buffer, rng), batch_size)
                    emitted += len(batches)
                    yield from batches
                    buffer, buffered = [remainder], len(remainder["values"])
            if buffered:
                batches, remainder = full_batches(shuffled(buffer, rng), batch_size)
                if not batches:  # fewer windows than one batch in the whole table
                    batches = [remainder]
                emitted += len(batches)
                yield from batches
            if not emitted:
                raise ValueError(
                    f"No window of sequence_length={self.processor.sequence_length} fits in the streamed table: every "
                    "entity/contiguous segment is shorter. Lower --sequence_length."
                )
            epoch += 1


class StreamOrderCheck:
    """Refuses streams whose entity rows are interleaved or go back in time (they would be windowed wrongly)."""

    def __init__(self, processor: TimeAutoDiffProcessor):
        self.processor = processor
        self.finished: set = set()
        self.last_entity = None
        self.last_time = None
        self.rows_seen = 0

    def check(self, chunk: pd.DataFrame) -> None:
        processor = self.processor
        timestamps, entities = processor._parse_time_and_entities(chunk, fitting=False)
        entity_values = np.zeros(len(chunk), dtype=np.int8) if entities is None else entities.to_numpy()
        if timestamps is not None:
            time_values = timestamps.to_numpy()
            if np.issubdtype(time_values.dtype, np.datetime64):
                time_values = time_values.astype("datetime64[ns]").astype(np.int64)
            time_values = time_values.astype(np.float64)
            same = entity_values[1:] == entity_values[:-1]
            backwards = np.flatnonzero(same & (np.diff(time_values) <= 0))
            if len(backwards):
                row = self.rows_seen + int(backwards[0]) + 1
                raise ValueError(
                    f"Streaming needs each entity's rows in time order, but row {row} is not later than the row "
                    f"before it (time column {processor.time_column!r}). Sort the table by entity, then time, before "
                    "streaming, or train without --streaming."
                )
        run_starts = np.flatnonzero(np.r_[True, entity_values[1:] != entity_values[:-1]])
        run_entities = [entity_values[index] for index in run_starts]
        first = run_entities[0]
        continues = self.last_entity is not None and first == self.last_entity
        if continues and timestamps is not None and time_values[0] <= self.last_time:
            raise ValueError(
                f"Streaming needs each entity's rows in time order, but row {self.rows_seen} is not later than the "
                "row before it. Sort the table by entity, then time, before streaming."
            )
        if self.last_entity is not None and not continues:
            self.finished.add(self.last_entity)
        seen_in_chunk: set = set()
        for entity in run_entities:
            if entity in self.finished or entity in seen_in_chunk:
                raise ValueError(
                    f"Streaming needs each entity's rows together, but rows of entity {entity!r} (column "
                    f"{processor.entity_column!r}) appear again after other entities. Sort the table by entity, "
                    "then time, before streaming."
                )
            seen_in_chunk.add(entity)
        self.finished.update(run_entities[:-1])
        self.last_entity = run_entities[-1]
        if timestamps is not None:
            self.last_time = time_values[-1]
        self.rows_seen += len(chunk)


def encode_or_none(processor: TimeAutoDiffProcessor, frame: pd.DataFrame) -> dict | None:
    """
    Windows of a chunk, or None when no window fits in it (a short chunk or entity is not an error here). The
    processor's warning about short segments is muted: at a chunk boundary a segment only looks short, its rest
    comes with the next chunk.
    """
    level = processing_logger.level
    processing_logger.setLevel(logging.ERROR)
    try:
        return processor.encode(frame)
    except ValueError as error:
        if str(error).startswith("No window"):
            return None
        raise
    finally:
        processing_logger.setLevel(level)


def last_rows_of_last_entity(frame: pd.DataFrame, entity_column, count: int) -> pd.DataFrame:
    """The rows to carry into the next chunk: the last `count` rows of the entity the chunk ends with."""
    if count == 0:
        return frame.iloc[:0]
    if entity_column is None:
        return frame.iloc[-count:].reset_index(drop=True)
    entities = frame[entity_column].to_numpy()
    last = entities[-1]
    start = len(frame) - 1
    while start > 0 and entities[start - 1] == last and len(frame) - start < count:
        start -= 1
    return frame.iloc[start:].reset_index(drop=True)


def full_batches(merged: dict[str, np.ndarray], batch_size: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Cut whole batches off the front of `merged`; return them and the remaining windows."""
    full = len(merged["values"]) // batch_size * batch_size
    batches = [
        {key: value[start : start + batch_size] for key, value in merged.items()}
        for start in range(0, full, batch_size)
    ]
    return batches, {key: value[full:] for key, value in merged.items()}


def shuffled(parts: list[dict[str, np.ndarray]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    order = rng.permutation(len(merged["values"]))
    return {key: value[order] for key, value in merged.items()}


def table_chunks(dataset, chunk_rows: int, drop_columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Chunks of a (streamed) `datasets` dataset as DataFrames, through Arrow so dtypes agree across chunks."""
    for table in dataset.with_format("arrow").iter(batch_size=chunk_rows):
        frame = table.to_pandas()
        if drop_columns:
            frame = frame.drop(columns=drop_columns)
        yield frame
