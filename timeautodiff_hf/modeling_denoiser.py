"""TimeAutoDiffDenoiser: predicts the noise of a whole latent sequence from the timestep and a masked condition."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.utils import BaseOutput
from torch import nn

from .embeddings import MixedTypeEmbedding, sinusoidal_positions


@dataclass
class TimeAutoDiffDenoiserOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(batch_size, sequence_length, latent_dim)`): the model output (noise, or
            v, as the scheduler's `prediction_type` says).
    """

    sample: torch.Tensor


class DenoiserBlock(nn.Module):
    """Pre-norm transformer block whose norms are modulated by the diffusion timestep (adaptive LayerNorm)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.attention = nn.MultiheadAttention(hidden_size, num_heads, dropout=dropout, batch_first=True)
        self.feed_forward_norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden_size, 4 * hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * hidden_size, hidden_size),
        )
        # Scale, shift and gate for both sub-layers, zero-initialised so each block starts as the identity.
        self.modulation = nn.Linear(hidden_size, 6 * hidden_size)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, hidden_states: torch.Tensor, timestep_embedding: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = (
            self.modulation(timestep_embedding).unsqueeze(1).chunk(6, -1)
        )
        normed = self.attention_norm(hidden_states) * (1 + scale_a) + shift_a
        attended, _ = self.attention(normed, normed, normed, need_weights=False)
        hidden_states = hidden_states + (1 + gate_a) * attended
        normed = self.feed_forward_norm(hidden_states) * (1 + scale_f) + shift_f
        return hidden_states + (1 + gate_f) * self.feed_forward(normed)


class TimeAutoDiffDenoiser(ModelMixin, ConfigMixin):
    r"""
    Denoiser of whole latent sequences for masked generation (TimeAutoDiff, Suh et al. 2024, §3.2).

    At every diffusion step it sees the noisy latent sequence `(batch, length, latent_dim)`, the timestep, the
    calendar/position features of each step, and a **condition**: the observed cells `x ⊙ (1 − M)` with the mask,
    embedded per cell by type (absent cells get a learned vector), so partially observed steps condition too.
    The all-absent condition is unconditional generation; observed history is forecasting; scattered observed
    cells are imputation; observed metadata columns are conditional ("what if") generation.

    Architecture choice: the paper uses a bidirectional RNN. We use a small transformer over time with adaptive
    LayerNorm timestep conditioning, preceded by a bidirectional GRU: the GRU gives strong local temporal inductive
    bias at small data sizes, attention lets every step see every observed cell of the window in one layer (which
    helps imputation across long gaps), and the whole sequence is denoised at once.

    Args:
        latent_dim (`int`): size of the per-step latent.
        column_kinds (`list[str]`): kinds of the table columns (for the condition embedding).
        category_sizes (`list[int]`): vocabulary sizes of the table columns.
        num_time_features (`int`): number of calendar/position features per step.
        hidden_size (`int`, *optional*, defaults to 128): model width.
        num_layers (`int`, *optional*, defaults to 3): transformer blocks.
        num_heads (`int`, *optional*, defaults to 4): attention heads.
        embedding_dim (`int`, *optional*, defaults to 16): per-cell condition embedding size.
        num_fourier_features (`int`, *optional*, defaults to 16): frequencies for continuous condition values.
        dropout (`float`, *optional*, defaults to 0.0): dropout in attention and feed-forward layers.

    Example:

    ```py
    >>> import torch
    >>> from timeautodiff_hf import TimeAutoDiffDenoiser
    >>> denoiser = TimeAutoDiffDenoiser(latent_dim=2, column_kinds=["continuous"], category_sizes=[0],
    ...                                 num_time_features=1, hidden_size=16, num_layers=1, num_heads=2)
    >>> sample = torch.randn(3, 5, 2)
    >>> condition = torch.zeros(3, 5, 1)
    >>> denoiser(sample, torch.tensor([10, 10, 10]), torch.zeros(3, 5, 1), condition, condition).sample.shape
    torch.Size([3, 5, 2])
    ```
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int,
        column_kinds: list[str],
        category_sizes: list[int],
        num_time_features: int,
        hidden_size: int = 128,
        num_layers: int = 3,
        num_heads: int = 4,
        embedding_dim: int = 16,
        num_fourier_features: int = 16,
        dropout: float = 0.0,
    ):
        super().__init__()
        if hidden_size % num_heads != 0 or hidden_size % 2 != 0:
            raise ValueError(
                f"`hidden_size` must be even and divisible by `num_heads`, got {hidden_size} and {num_heads}."
            )
        num_columns = len(column_kinds)
        self.latent_projection = nn.Linear(latent_dim, hidden_size)
        self.condition_embedding = MixedTypeEmbedding(
            column_kinds, category_sizes, embedding_dim, num_fourier_features
        )
        self.condition_projection = nn.Sequential(
            nn.Linear(num_columns * embedding_dim + num_columns, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )
        self.time_feature_projection = nn.Linear(num_time_features, hidden_size)
        self.time_proj = Timesteps(hidden_size, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.timestep_embedding = TimestepEmbedding(hidden_size, hidden_size)
        self.input_rnn = nn.GRU(hidden_size, hidden_size // 2, batch_first=True, bidirectional=True)
        self.blocks = nn.ModuleList([DenoiserBlock(hidden_size, num_heads, dropout) for _ in range(num_layers)])
        self.output_norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.output_modulation = nn.Linear(hidden_size, 2 * hidden_size)
        self.output_projection = nn.Linear(hidden_size, latent_dim)
        nn.init.zeros_(self.output_modulation.weight)
        nn.init.zeros_(self.output_modulation.bias)

    def encode_condition(
        self, time_features: torch.Tensor, condition_values: torch.Tensor, observed_mask: torch.Tensor
    ) -> torch.Tensor:
        """
        The part of the denoiser's input that does not change during sampling: the embedded condition, the calendar
        features and the positions, `(batch_size, sequence_length, hidden_size)`. The pipeline computes it once
        per batch instead of at every denoising step (for imputation and forecasting, embedding the observed cells
        costs about as much as a transformer block).
        """
        batch_size, sequence_length, _ = condition_values.shape
        if observed_mask.any():
            condition = self.condition_embedding(condition_values * observed_mask, observed_mask).flatten(start_dim=2)
            condition = self.condition_projection(torch.cat([condition, observed_mask], dim=-1))
        else:
            # Nothing observed (unconditional generation): the condition is the same for every step, so it is
            # computed once; this keeps the cost of wide tables out of the sampling loop.
            empty = observed_mask[:1, :1]
            condition = self.condition_embedding(empty, empty).flatten(start_dim=2)
            condition = self.condition_projection(torch.cat([condition, empty], dim=-1))
            condition = condition.expand(batch_size, sequence_length, -1)
        positions = sinusoidal_positions(sequence_length, condition.shape[-1], condition.device, condition.dtype)
        return condition + self.time_feature_projection(time_features) + positions

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int | float,
        time_features: torch.Tensor,
        condition_values: torch.Tensor,
        observed_mask: torch.Tensor,
        return_dict: bool = True,
        condition_states: torch.Tensor | None = None,
    ) -> TimeAutoDiffDenoiserOutput | tuple:
        """
        Args:
            sample (`torch.Tensor` of shape `(batch_size, sequence_length, latent_dim)`): noisy scaled latents.
            timestep (`torch.Tensor` of shape `(batch_size,)`, or a number): diffusion timestep(s).
            time_features (`torch.Tensor` of shape `(batch_size, sequence_length, num_time_features)`).
            condition_values (`torch.Tensor` of shape `(batch_size, sequence_length, num_columns)`): model-space cells;
                only cells with `observed_mask == 1` are read.
            observed_mask (`torch.Tensor`, same shape): 1 = the cell is given (condition), 0 = to be generated.
            return_dict (`bool`, *optional*, defaults to `True`).
            condition_states (`torch.Tensor`, *optional*): `encode_condition(time_features, condition_values,
                observed_mask)`, when the caller computed it once for every denoising step (the three inputs are
                then not read).

        Returns:
            `TimeAutoDiffDenoiserOutput` or `(sample,)`: the predicted noise (or v), `(batch, length, latent_dim)`.
        """
        batch_size = sample.shape[0]
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device)
        timestep = timestep.to(sample.device).reshape(-1).expand(batch_size)
        timestep_embedding = self.timestep_embedding(self.time_proj(timestep).to(sample.dtype))

        # 1. per-step inputs: noisy latent + (masked condition + calendar features + position)
        if condition_states is None:
            condition_states = self.encode_condition(time_features, condition_values, observed_mask)
        hidden_states = self.latent_projection(sample) + condition_states + timestep_embedding.unsqueeze(1)
        # 2. local temporal mixing, then global attention blocks modulated by the timestep
        recurrent, _ = self.input_rnn(hidden_states)
        hidden_states = hidden_states + recurrent
        for block in self.blocks:
            hidden_states = block(hidden_states, timestep_embedding)
        # 3. output
        shift, scale = self.output_modulation(timestep_embedding).unsqueeze(1).chunk(2, dim=-1)
        output = self.output_projection(self.output_norm(hidden_states) * (1 + scale) + shift)
        if not return_dict:
            return (output,)
        return TimeAutoDiffDenoiserOutput(sample=output)
