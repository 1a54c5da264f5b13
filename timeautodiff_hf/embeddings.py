"""Layers shared by the VAE and the denoiser: type-aware cell embeddings and sinusoidal positions."""

from __future__ import annotations

import math

import torch
from torch import nn


class MixedTypeEmbedding(nn.Module):
    r"""
    Embeds every cell of a mixed-type table step into `embedding_dim` features, column by column.

    Continuous cells go through Fourier features (sine/cosine of the scaled value at learned frequencies, which lets
    a small network resolve fine differences in value) and a per-column projection. Binary and categorical cells
    look up an embedding; each column has an extra "absent" entry. Absent cells (missing in the data, or targets
    the model must generate) get a learned per-column "absent" vector, so the model sees where information is
    missing instead of a fake zero.

    Args:
        column_kinds (`list[str]`): kind of each column, `"continuous"`, `"binary"` or `"categorical"`.
        category_sizes (`list[int]`): vocabulary size of each column (ignored for continuous columns).
        embedding_dim (`int`): size of each cell's embedding.
        num_fourier_features (`int`): number of frequencies for continuous values.
    """

    def __init__(
        self, column_kinds: list[str], category_sizes: list[int], embedding_dim: int, num_fourier_features: int
    ):
        super().__init__()
        self.continuous_index = [i for i, kind in enumerate(column_kinds) if kind == "continuous"]
        self.discrete_index = [i for i, kind in enumerate(column_kinds) if kind != "continuous"]
        self.num_columns = len(column_kinds)
        self.embedding_dim = embedding_dim
        num_continuous = len(self.continuous_index)
        # Frequencies start log-spaced over 1..32 cycles per unit of standard-normal score and are learned.
        initial = torch.logspace(0, math.log10(32.0), num_fourier_features).repeat(max(num_continuous, 1), 1)
        self.fourier_frequencies = nn.Parameter(initial[:num_continuous].clone())
        self.continuous_weight = nn.Parameter(
            torch.randn(num_continuous, 2 * num_fourier_features + 1, embedding_dim) * 0.1
        )
        self.continuous_bias = nn.Parameter(torch.zeros(num_continuous, embedding_dim))
        self.absent_embedding = nn.Parameter(torch.randn(self.num_columns, embedding_dim) * 0.1)
        sizes = [max(int(category_sizes[i]), 1) for i in self.discrete_index]
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        self.register_buffer("category_offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.register_buffer(
            "category_limits", torch.tensor([size - 1 for size in sizes], dtype=torch.long), persistent=False
        )
        self.category_embedding = nn.Embedding(max(sum(sizes), 1), embedding_dim)
        self.register_buffer(
            "continuous_columns", torch.tensor(self.continuous_index, dtype=torch.long), persistent=False
        )
        self.register_buffer("discrete_columns", torch.tensor(self.discrete_index, dtype=torch.long), persistent=False)

    def forward(self, values: torch.Tensor, present_mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            values (`torch.Tensor` of shape `(batch_size, sequence_length, num_columns)`):
                Scaled continuous values and category indices (as floats).
            present_mask (`torch.Tensor`, same shape): 1 where the cell's value is given, 0 where absent.

        Returns:
            `torch.Tensor` of shape `(batch_size, sequence_length, num_columns, embedding_dim)`.
        """
        batch_size, sequence_length, _ = values.shape
        embedded = values.new_zeros(batch_size, sequence_length, self.num_columns, self.embedding_dim)
        if self.continuous_index:
            continuous = values.index_select(-1, self.continuous_columns)
            # (batch, time, continuous columns, frequencies)
            angles = continuous.unsqueeze(-1) * self.fourier_frequencies * (2 * math.pi)
            fourier = torch.cat([angles.sin(), angles.cos(), continuous.unsqueeze(-1)], dim=-1)
            projected = torch.einsum("btcf,cfe->btce", fourier, self.continuous_weight) + self.continuous_bias
            embedded[:, :, self.continuous_index] = projected
        if self.discrete_index:
            indices = values.index_select(-1, self.discrete_columns).round().long()
            indices = torch.minimum(indices.clamp(min=0), self.category_limits) + self.category_offsets
            embedded[:, :, self.discrete_index] = self.category_embedding(indices)
        present = present_mask.unsqueeze(-1)
        return embedded * present + self.absent_embedding * (1 - present)


def sinusoidal_positions(sequence_length: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Fixed sinusoidal position encodings `(sequence_length, dim)`; defined for any length (long generation)."""
    positions = torch.arange(sequence_length, device=device, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    encoding = torch.zeros(sequence_length, dim, device=device, dtype=torch.float32)
    encoding[:, 0::2] = torch.sin(positions * frequencies)
    encoding[:, 1::2] = torch.cos(positions * frequencies)[:, : dim // 2]
    return encoding.to(dtype)
