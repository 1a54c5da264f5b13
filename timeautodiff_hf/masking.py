"""Random condition masks for training one model on all four tasks (generation, imputation, forecast, what-if)."""

from __future__ import annotations

import torch

MASK_TYPES = ("unconditional", "random_cells", "blocks", "forecast", "metadata", "static")
DEFAULT_MASK_PROBABILITIES = {
    "unconditional": 0.3,
    "random_cells": 0.2,
    "blocks": 0.15,
    "forecast": 0.2,
    "metadata": 0.15,
    # Taken from `unconditional` when the table has static columns (without them it does not exist).
    "static": 0.15,
}


def sample_condition_mask(
    observed_mask: torch.Tensor,
    metadata_indices: list[int],
    generator: torch.Generator | None = None,
    probabilities: dict[str, float] | None = None,
    static_indices: list[int] | None = None,
) -> torch.Tensor:
    """
    Draw, per example, which observed cells the denoiser may see as conditions; the rest are targets.

    Mask types (TimeAutoDiff trains one model for all tasks by mixing them):

    - `unconditional`: nothing given (plain generation);
    - `random_cells`: each observed cell given with a probability drawn in [0.1, 0.95] (imputation);
    - `blocks`: a contiguous block of steps hidden in a random subset of columns (gaps, sensor outages);
    - `forecast`: a time prefix given, the suffix hidden; known metadata stays given in the future half the time;
    - `metadata`: the metadata columns given at every step (what-if generation); with static columns, those are
      given too in half of these examples;
    - `static`: a random non-empty subset of the static columns given at every step, everything else hidden
      (`generate(static=...)`: e.g. only `ICUType` given, age and sex generated).

    Without metadata columns the metadata share goes to `unconditional`. With static columns the static share is
    taken from `unconditional`; without them it does not exist (masks are then exactly those of a table without
    the static mask type).

    Args:
        observed_mask (`torch.Tensor` of shape `(batch_size, sequence_length, num_columns)`): 1 = observed in data.
        metadata_indices (`list[int]`): positions of the metadata columns.
        generator (`torch.Generator`, *optional*): for reproducible masks (must live on the CPU).
        static_indices (`list[int]`, *optional*): positions of the static (per-entity constant) columns.
        probabilities (`dict[str, float]`, *optional*): share of each mask type; defaults to
            `DEFAULT_MASK_PROBABILITIES`.

    Returns:
        `torch.Tensor` (same shape, float): 1 where the cell is a condition. Always 0 where the data is missing.
    """
    static_indices = list(static_indices or [])
    defaults = probabilities is None
    probabilities = dict(DEFAULT_MASK_PROBABILITIES if defaults else probabilities)
    if not static_indices:
        probabilities.pop("static", None)
    elif defaults:
        probabilities["unconditional"] -= probabilities["static"]
    if not metadata_indices:
        probabilities["unconditional"] = probabilities.get("unconditional", 0.0) + probabilities.pop("metadata", 0.0)
    unknown = set(probabilities) - set(MASK_TYPES)
    if unknown:
        raise ValueError(f"Unknown mask types {sorted(unknown)}; expected a subset of {MASK_TYPES}.")
    names = list(probabilities)
    weights = torch.tensor([probabilities[name] for name in names], dtype=torch.float)
    batch_size, length, num_columns = observed_mask.shape
    choice = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
    uniform = torch.rand(batch_size, length, num_columns, generator=generator)
    keep = torch.zeros(batch_size, length, num_columns)
    steps = torch.arange(length).view(1, length, 1)

    def chosen(name: str) -> torch.Tensor:
        index = names.index(name) if name in names else -1
        return (choice == index).view(batch_size, 1, 1)

    # random cells: per-example keep rate
    keep_rate = 0.1 + 0.85 * torch.rand(batch_size, 1, 1, generator=generator)
    keep = torch.where(chosen("random_cells"), (uniform < keep_rate).float(), keep)
    # blocks: hide steps [start, start + width) in a random subset of columns (at least one)
    width = torch.randint(1, max(2, length // 2 + 1), (batch_size, 1, 1), generator=generator)
    start = (torch.rand(batch_size, 1, 1, generator=generator) * (length - width + 1)).floor()
    in_block = (steps >= start) & (steps < start + width)
    hidden_columns = torch.rand(batch_size, 1, num_columns, generator=generator) < 0.5
    hidden_columns[..., 0] |= ~hidden_columns.any(dim=-1)
    keep = torch.where(chosen("blocks"), (~(in_block & hidden_columns)).float(), keep)
    # forecast: keep a prefix of 1..length-1 steps
    prefix = torch.randint(1, max(2, length), (batch_size, 1, 1), generator=generator)
    forecast_keep = (steps < prefix).float().expand(batch_size, length, num_columns).clone()
    if metadata_indices:
        future_metadata = torch.rand(batch_size, 1, 1, generator=generator) < 0.5
        forecast_keep[:, :, metadata_indices] = torch.where(
            future_metadata,
            torch.ones_like(forecast_keep[:, :, metadata_indices]),
            forecast_keep[:, :, metadata_indices],
        )
    keep = torch.where(chosen("forecast"), forecast_keep, keep)
    if metadata_indices:
        metadata_keep = torch.zeros(batch_size, length, num_columns)
        metadata_keep[:, :, metadata_indices] = 1.0
        if static_indices:
            with_static = torch.rand(batch_size, 1, 1, generator=generator) < 0.5
            metadata_keep[:, :, static_indices] = with_static.float().expand(-1, length, len(static_indices))
        keep = torch.where(chosen("metadata"), metadata_keep, keep)
    if static_indices:
        given = torch.rand(batch_size, 1, len(static_indices), generator=generator) < 0.5
        forced = torch.randint(0, len(static_indices), (batch_size,), generator=generator)
        given[torch.arange(batch_size), 0, forced] = True
        static_keep = torch.zeros(batch_size, length, num_columns)
        static_keep[:, :, static_indices] = given.float().expand(-1, length, -1)
        keep = torch.where(chosen("static"), static_keep, keep)
    return keep.to(observed_mask.device, observed_mask.dtype) * observed_mask
