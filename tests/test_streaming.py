"""Streaming training input: chunked fitting, exact windows across chunk boundaries, order checks, resumable runs."""

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

from timeautodiff_hf import TimeAutoDiffPipeline, TimeAutoDiffProcessor
from timeautodiff_hf.sample_data import load_bike_sharing
from timeautodiff_hf.streaming import StreamingWindows
from timeautodiff_hf.trainer import main as train
from timeautodiff_hf.trainer import parse_args

try:
    from .tiny_model import TINY_FLAGS
except ImportError:
    from tiny_model import TINY_FLAGS


def chunked(table: pd.DataFrame, size: int):
    return lambda: (table.iloc[start : start + size].reset_index(drop=True) for start in range(0, len(table), size))


def panel(seed: int = 0) -> pd.DataFrame:
    """Three entities of different lengths, one with a bridged gap and one with a long gap, sorted by entity/time."""
    rng = np.random.default_rng(seed)
    parts = []
    for entity, length in (("a", 70), ("b", 33), ("c", 95)):
        time = pd.date_range("2021-01-01", periods=length, freq="h")
        if entity == "a":
            time = time.delete([20, 21])  # bridged gap of 2 steps
        if entity == "c":
            time = time.delete(range(40, 50))  # too long: splits the entity into two segments
        parts.append(
            pd.DataFrame(
                {
                    "site": entity,
                    "time": time,
                    "value": rng.normal(size=len(time)).cumsum(),
                    "state": rng.choice(["on", "off", "idle"], len(time)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def sorted_windows(values: np.ndarray) -> np.ndarray:
    flat = values.astype(np.float32).reshape(len(values), -1)
    return flat[np.lexsort(flat.T[::-1])]


@pytest.mark.parametrize("chunk_rows", [7, 23, 64, 1000])
def test_streamed_windows_are_exactly_the_windows_of_the_whole_table(chunk_rows):
    table = panel()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="site", sequence_length=12).fit(table)
    whole = processor.encode(table)
    stream = StreamingWindows(processor, chunked(table, chunk_rows))
    parts = list(stream.iter_windows())
    streamed = np.concatenate([part["values"] for part in parts])
    assert stream.windows_per_pass == len(whole["values"]) == len(streamed)
    np.testing.assert_array_equal(sorted_windows(streamed), sorted_windows(whole["values"]))
    step_mask = np.concatenate([part["step_mask"] for part in parts])
    assert step_mask.sum() == (whole["row_index"] >= 0).sum()


def test_fit_chunks_matches_fit_on_the_whole_table():
    table = load_bike_sharing().iloc[:3000]
    kwargs = {"time_column": "datetime", "metadata_columns": ["weathersit", "temp"], "sequence_length": 24}
    whole = TimeAutoDiffProcessor(**kwargs).fit(table)
    streamed = TimeAutoDiffProcessor(**kwargs).fit_chunks(chunked(table, 400)(), sample_rows=3000)
    assert streamed.time_info == whole.time_info
    for expected, actual in zip(whole.columns, streamed.columns):
        assert actual["kind"] == expected["kind"], actual["name"]
        assert actual.get("categories") == expected.get("categories"), actual["name"]
        assert actual["missing_rate"] == pytest.approx(expected["missing_rate"])
        if actual["kind"] == "continuous":
            assert (actual["min"], actual["max"]) == (expected["min"], expected["max"])


def test_fit_chunks_finds_calendar_columns_in_its_row_sample_and_transitions_in_its_head():
    table = load_bike_sharing()
    kwargs = {"time_column": "datetime", "metadata_columns": ["weathersit", "temp"]}
    whole = TimeAutoDiffProcessor(**kwargs).fit(table)
    streamed = TimeAutoDiffProcessor(**kwargs).fit_chunks(chunked(table, 2000)(), sample_rows=4000)
    keys = {c["name"]: c["calendar"]["key"] for c in whole.columns if c.get("calendar")}
    assert keys == {c["name"]: c["calendar"]["key"] for c in streamed.columns if c.get("calendar")}
    assert set(keys) == {"season", "yr", "mnth", "hr", "weekday"}
    # Transition counts come from the stream's first rows (they need consecutive rows), over the full vocabulary.
    for expected, actual in zip(whole.columns, streamed.columns):
        assert ("transition_counts" in actual) == ("transition_counts" in expected), actual["name"]
        if "transition_counts" in actual:
            assert len(actual["transition_counts"]) == len(actual["categories"])
    batch = whole.encode(table.iloc[:200])
    values, mask = streamed.calendar_cells(batch["timestamps"])
    known = mask > 0
    np.testing.assert_array_equal(values[known], whole.calendar_cells(batch["timestamps"])[0][known])


def test_fit_chunks_is_exact_about_values_beyond_its_row_sample():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "time": np.arange(5000),
            "level": rng.normal(size=5000),
            "flag": ["x"] * 2500 + ["y"] * 2499 + ["z"],  # two values in the head, a third in the last row
            "sensor": np.r_[rng.normal(size=4999), [np.nan]],
        }
    )
    table.loc[4998, "level"] = 1e6  # an extreme value outside the row sample
    processor = TimeAutoDiffProcessor(time_column="time").fit_chunks(chunked(table, 1000)(), sample_rows=500)
    columns = {column["name"]: column for column in processor.columns}
    assert columns["flag"]["kind"] == "categorical"
    assert columns["flag"]["categories"] == ["x", "y", "z"]
    assert columns["level"]["max"] == 1e6
    assert columns["sensor"]["missing_rate"] == pytest.approx(1 / 5000)
    assert processor.time_info["end"] == 4999.0
    encoded = processor.encode(table.iloc[-30:])  # the late category encodes without an unknown-category error
    assert encoded["values"].shape[-1] == 3


def test_when_stream_goes_back_in_time_then_raises_value_error():
    table = panel()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="site", sequence_length=12).fit(table)
    shuffled = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    with pytest.raises(ValueError, match="time order"):
        list(StreamingWindows(processor, chunked(shuffled, 50)).iter_windows())


def test_when_entity_rows_are_interleaved_then_raises_value_error():
    table = panel()
    processor = TimeAutoDiffProcessor(time_column="time", entity_column="site", sequence_length=12).fit(table)
    by_time = table.sort_values(["time", "site"], kind="stable").reset_index(drop=True)
    with pytest.raises(ValueError, match="entity 'a'|entity 'b'|entity 'c'"):
        list(StreamingWindows(processor, chunked(by_time, 40)).iter_windows())


def test_when_streaming_with_early_stopping_then_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="--early_stopping_patience"):
        parse_args(["--train_file", "x.csv", "--streaming", "--early_stopping_patience", "3"])


def streaming_flags(train_file, output_dir, *extra):
    """The tiny model of `tiny_model.TINY_FLAGS`, streamed in chunks of 37 rows, with 12-step windows."""
    return parse_args(
        [
            "--train_file",
            str(train_file),
            "--time_column",
            "time",
            "--entity_column",
            "site",
            "--streaming",
            "--streaming_chunk_rows",
            "37",
            "--streaming_fit_rows",
            "100",
            "--shuffle_buffer",
            "40",
            "--report_to",
            "none",
            "--output_dir",
            str(output_dir),
            *TINY_FLAGS,
            *["--sequence_length", "12", "--vae_steps", "8", "--denoiser_steps", "8", "--batch_size", "8"],
            *extra,
        ]
    )


def test_streaming_training_from_a_parquet_file_gives_a_working_pipeline(tmp_path):
    train_file = tmp_path / "panel.parquet"
    panel().to_parquet(train_file)
    train(streaming_flags(train_file, tmp_path / "model"))
    pipe = TimeAutoDiffPipeline.from_pretrained(tmp_path / "model")
    pipe.set_progress_bar_config(disable=True)
    frames = pipe(num_sequences=3, num_inference_steps=3).frames
    assert set(frames["state"].dropna()) <= {"on", "off", "idle"}
    assert len(frames) == 3 * 12
    assert sorted(pipe.processor.time_info["entity_lengths"]) == sorted(panel().groupby("site").size().tolist())


def test_streaming_training_resumes_to_the_same_weights(tmp_path):
    train_file = tmp_path / "panel.parquet"
    panel().to_parquet(train_file)
    train(streaming_flags(train_file, tmp_path / "full", "--checkpointing_steps", "4", "--seed", "3"))
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (tmp_path / "full" / "checkpoint-denoiser-4").rename(resumed_dir / "checkpoint-denoiser-4")
    train(streaming_flags(train_file, resumed_dir, "--resume_from_checkpoint", "latest", "--seed", "3"))
    for component in ("vae", "denoiser"):
        expected = load_file(tmp_path / "full" / component / "diffusion_pytorch_model.safetensors")
        actual = load_file(resumed_dir / component / "diffusion_pytorch_model.safetensors")
        for name, tensor in expected.items():
            assert np.array_equal(tensor.numpy(), actual[name].numpy()), (component, name)
