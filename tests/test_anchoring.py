"""Anchoring decoded continuous cells to the observed cells around them (imputation precision)."""

import numpy as np
import pytest
import torch

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.anchoring import anchor_to_observed

try:
    from .tiny_model import make_tiny_table, train_tiny_pipeline
except ImportError:
    from tiny_model import make_tiny_table, train_tiny_pipeline


def test_a_linear_decoding_error_between_observed_cells_is_removed_exactly():
    truth = np.linspace(0.0, 1.0, 10)[None, :, None]
    decoded = truth + np.linspace(0.3, -0.3, 10)[None, :, None]  # the decoder is off by a smooth, linear error
    mask = np.zeros_like(truth)
    mask[0, [0, 4, 9], 0] = 1.0
    corrected = anchor_to_observed(decoded, truth * mask, mask, columns=[0])
    np.testing.assert_allclose(corrected[0, mask[0, :, 0] == 0, 0], truth[0, mask[0, :, 0] == 0, 0], atol=1e-12)


def test_the_correction_fades_beyond_the_last_observed_cell_and_skips_other_columns():
    decoded = np.zeros((1, 6, 2))
    observed = np.zeros((1, 6, 2))
    mask = np.zeros((1, 6, 2))
    observed[0, :2, :] = 1.0
    mask[0, :2, :] = 1.0
    corrected = anchor_to_observed(decoded, observed, mask, columns=[0], decay=0.5)
    np.testing.assert_allclose(corrected[0, 2:, 0], [0.5, 0.25, 0.125, 0.0625])
    np.testing.assert_array_equal(corrected[0, :, 1], 0.0)  # column 1 is not continuous: untouched
    held = anchor_to_observed(decoded, observed, mask, columns=[0], decay=0.0)
    np.testing.assert_array_equal(held[0, 2:, 0], 0.0)


def test_windows_without_observed_cells_are_unchanged():
    decoded = np.random.default_rng(0).normal(size=(2, 5, 1))
    corrected = anchor_to_observed(decoded, np.zeros_like(decoded), np.zeros_like(decoded), columns=[0])
    np.testing.assert_array_equal(corrected, decoded)


def test_when_decay_is_out_of_range_then_raises_value_error():
    with pytest.raises(ValueError, match="`decay` must lie in"):
        anchor_to_observed(np.zeros((1, 2, 1)), np.zeros((1, 2, 1)), np.ones((1, 2, 1)), [0], decay=1.5)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipeline = TimeAutoDiffPipeline.from_pretrained(train_tiny_pipeline(tmp_path_factory.mktemp("anchor")))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_anchored_imputation_is_closer_to_the_truth_and_keeps_observed_cells(pipe):
    table = make_tiny_table(seed=5)
    holes = table.copy()
    hidden = np.random.default_rng(0).random(len(table)) < 0.2
    holes["temperature"] = holes["temperature"].mask(hidden)
    errors = {}
    pipe.blend_with_interpolation = False  # anchoring alone (the blend with interpolation is tested on its own)
    for decay in (None, 0.8):
        pipe.anchor_decay = decay
        filled = pipe.impute(holes, num_inference_steps=5, generator=torch.Generator().manual_seed(0))
        errors[decay] = np.abs(filled.loc[hidden, "temperature"] - table.loc[hidden, "temperature"]).mean()
        assert filled.loc[~hidden, "temperature"].equals(table.loc[~hidden, "temperature"])
    pipe.anchor_decay = 0.8
    pipe.blend_with_interpolation = True
    assert errors[0.8] < errors[None]


def test_long_generation_carries_the_anchor_across_chunk_joins(pipe):
    """Sequences longer than the window are continued chunk by chunk; anchoring keeps the joins from jumping."""
    window = pipe.processor.sequence_length
    length = window * 4
    context = window // 2
    joins = list(range(window, length, window - context))
    continuous = [i for i, column in enumerate(pipe.processor.columns) if column["kind"] == "continuous"]
    jump_ratio = {}
    for decay in (None, 0.8):
        pipe.anchor_decay = decay
        values = pipe(
            num_sequences=64,
            sequence_length=length,
            num_inference_steps=5,
            output_type="np",
            missing="none",
            generator=torch.Generator().manual_seed(0),
        ).frames
        steps = np.abs(np.diff(values[..., continuous], axis=1))
        at_join = np.zeros(length - 1, dtype=bool)
        at_join[[join - 1 for join in joins]] = True
        inside = ~at_join
        inside[: window - 1] = False
        jump_ratio[decay] = steps[:, at_join].mean() / steps[:, inside].mean()
    pipe.anchor_decay = 0.8
    assert values.shape == (64, length, pipe.processor.num_columns)
    assert jump_ratio[0.8] < jump_ratio[None]
