"""TimeAutoDiffVAE: compresses each time step's mixed-type cells into a short continuous latent vector."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from .category_paths import most_likely_paths
from .embeddings import MixedTypeEmbedding

KINDS = ("continuous", "binary", "categorical")


@dataclass
class TimeAutoDiffVAEEncoderOutput(BaseOutput):
    """
    Args:
        latent_mean (`torch.Tensor` of shape `(batch_size, sequence_length, latent_dim)`): posterior mean.
        latent_logvar (`torch.Tensor` of shape `(batch_size, sequence_length, latent_dim)`): posterior log-variance.
    """

    latent_mean: torch.Tensor
    latent_logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = randn_tensor(
            self.latent_mean.shape, generator=generator, device=self.latent_mean.device, dtype=self.latent_mean.dtype
        )
        return self.latent_mean + torch.exp(0.5 * self.latent_logvar) * noise

    def kl(self) -> torch.Tensor:
        """KL divergence to a standard normal, per latent element `(batch_size, sequence_length, latent_dim)`."""
        return 0.5 * (self.latent_mean.pow(2) + self.latent_logvar.exp() - 1.0 - self.latent_logvar)


@dataclass
class TimeAutoDiffVAEDecoderOutput(BaseOutput):
    """
    Args:
        continuous (`(batch_size, sequence_length, num_continuous)`): predicted scaled continuous values.
        binary_logits (`(batch_size, sequence_length, num_binary)`): logits of index 1 of each binary column.
        categorical_logits (`(batch_size, sequence_length, sum of categorical vocabulary sizes)`): concatenated logits.
        observed_logits (`(batch_size, sequence_length, num_columns)`): logits that each cell is observed
            (learns the data's missingness pattern).
    """

    continuous: torch.Tensor
    binary_logits: torch.Tensor
    categorical_logits: torch.Tensor
    observed_logits: torch.Tensor


@dataclass
class TimeAutoDiffVAEOutput(BaseOutput):
    """
    Args:
        decoded (`TimeAutoDiffVAEDecoderOutput`): reconstruction heads.
        posterior (`TimeAutoDiffVAEEncoderOutput`): latent distribution.
    """

    decoded: TimeAutoDiffVAEDecoderOutput
    posterior: TimeAutoDiffVAEEncoderOutput


class TimeAutoDiffVAE(ModelMixin, ConfigMixin):
    r"""
    Variational autoencoder over the feature axis of mixed-type time series (TimeAutoDiff, Suh et al. 2024, §3.1).

    Each time step's cells are embedded by type (Fourier features for continuous values, embeddings for binary and
    categorical ones, a learned "absent" vector for missing cells), mixed by an MLP, and passed through a
    bidirectional GRU over time; a linear head gives a Gaussian latent of `latent_dim` per step. The decoder mirrors
    it and ends in typed heads: values for continuous columns, logits for binary and categorical ones, and logits of
    each cell being observed (so generation can reproduce the data's missingness).

    Args:
        column_kinds (`list[str]`): per column, `"continuous"`, `"binary"` or `"categorical"` (processor order).
        category_sizes (`list[int]`): per column vocabulary size (0 for continuous columns).
        latent_dim (`int`, *optional*, defaults to 8): size of the per-step latent; at most the number of columns
            is the intent of the design (compression of the feature axis) but not enforced for tiny tables.
        embedding_dim (`int`, *optional*, defaults to 16): per-cell embedding size.
        hidden_size (`int`, *optional*, defaults to 128): width of the MLPs and GRUs.
        num_layers (`int`, *optional*, defaults to 1): GRU layers in the encoder and in the decoder.
        num_fourier_features (`int`, *optional*, defaults to 16): frequencies for continuous values.
        scaling_factor (`float`, *optional*, defaults to 1.0): multiplies latents before diffusion so that they have
            unit variance (fitted on training latents, like Stable Diffusion's VAE scaling factor).

    Example:

    ```py
    >>> import torch
    >>> from timeautodiff_hf import TimeAutoDiffVAE
    >>> vae = TimeAutoDiffVAE(column_kinds=["continuous", "categorical"], category_sizes=[0, 3], latent_dim=2)
    >>> values = torch.tensor([[[0.5, 2.0], [-1.0, 0.0]]])
    >>> latents = vae.encode(values, torch.ones_like(values)).latent_mean
    >>> latents.shape
    torch.Size([1, 2, 2])
    >>> vae.decode_to_values(latents)[0].shape
    torch.Size([1, 2, 2])
    ```
    """

    @register_to_config
    def __init__(
        self,
        column_kinds: list[str],
        category_sizes: list[int],
        latent_dim: int = 8,
        embedding_dim: int = 16,
        hidden_size: int = 128,
        num_layers: int = 1,
        num_fourier_features: int = 16,
        scaling_factor: float = 1.0,
    ):
        super().__init__()
        if len(column_kinds) != len(category_sizes) or not column_kinds:
            raise ValueError(
                f"`column_kinds` and `category_sizes` must be non-empty and of equal length, got {len(column_kinds)} "
                f"and {len(category_sizes)}."
            )
        unknown = [kind for kind in column_kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"`column_kinds` must only contain {KINDS}, got {unknown}.")
        if latent_dim < 1:
            raise ValueError(f"`latent_dim` must be at least 1, got {latent_dim!r}.")
        num_columns = len(column_kinds)
        self.continuous_index = [i for i, kind in enumerate(column_kinds) if kind == "continuous"]
        self.binary_index = [i for i, kind in enumerate(column_kinds) if kind == "binary"]
        self.categorical_index = [i for i, kind in enumerate(column_kinds) if kind == "categorical"]
        self.categorical_sizes = [max(int(category_sizes[i]), 1) for i in self.categorical_index]

        # Encoder: cells -> per-step vector -> bidirectional GRU over time -> Gaussian latent per step.
        self.cell_embedding = MixedTypeEmbedding(column_kinds, category_sizes, embedding_dim, num_fourier_features)
        self.encoder_mlp = nn.Sequential(
            nn.Linear(num_columns * embedding_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )
        self.encoder_rnn = nn.GRU(
            hidden_size, hidden_size // 2, num_layers=num_layers, batch_first=True, bidirectional=True
        )
        self.encoder_norm = nn.LayerNorm(hidden_size)
        self.to_latent = nn.Linear(hidden_size, 2 * latent_dim)

        # Decoder: latent per step -> bidirectional GRU -> MLP -> typed heads.
        self.from_latent = nn.Linear(latent_dim, hidden_size)
        self.decoder_rnn = nn.GRU(
            hidden_size, hidden_size // 2, num_layers=num_layers, batch_first=True, bidirectional=True
        )
        self.decoder_mlp = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )
        self.continuous_head = nn.Linear(hidden_size, len(self.continuous_index))
        self.binary_head = nn.Linear(hidden_size, len(self.binary_index))
        self.categorical_head = nn.Linear(hidden_size, sum(self.categorical_sizes))
        self.observed_head = nn.Linear(hidden_size, num_columns)

    def encode(
        self, values: torch.Tensor, observed_mask: torch.Tensor, return_dict: bool = True
    ) -> TimeAutoDiffVAEEncoderOutput | tuple:
        """
        Args:
            values (`torch.Tensor` of shape `(batch_size, sequence_length, num_columns)`): model-space cells.
            observed_mask (`torch.Tensor`, same shape): 1 = observed, 0 = missing.

        Returns:
            `TimeAutoDiffVAEEncoderOutput` (or `(latent_mean, latent_logvar)`), each `(batch, length, latent_dim)`.
        """
        embedded = self.cell_embedding(values, observed_mask)
        hidden = self.encoder_mlp(embedded.flatten(start_dim=2))
        hidden, _ = self.encoder_rnn(hidden)
        latent_mean, latent_logvar = self.to_latent(self.encoder_norm(hidden)).chunk(2, dim=-1)
        latent_logvar = latent_logvar.clamp(-20.0, 10.0)
        if not return_dict:
            return latent_mean, latent_logvar
        return TimeAutoDiffVAEEncoderOutput(latent_mean=latent_mean, latent_logvar=latent_logvar)

    def decode(self, latents: torch.Tensor, return_dict: bool = True) -> TimeAutoDiffVAEDecoderOutput | tuple:
        """
        Args:
            latents (`torch.Tensor` of shape `(batch_size, sequence_length, latent_dim)`): unscaled latents
                (divide diffusion samples by `config.scaling_factor` first).

        Returns:
            `TimeAutoDiffVAEDecoderOutput` or a tuple of its fields.
        """
        hidden = self.from_latent(latents)
        hidden, _ = self.decoder_rnn(hidden)
        hidden = self.decoder_mlp(hidden)
        output = (
            self.continuous_head(hidden),
            self.binary_head(hidden),
            self.categorical_head(hidden),
            self.observed_head(hidden),
        )
        if not return_dict:
            return output
        return TimeAutoDiffVAEDecoderOutput(*output)

    def forward(
        self,
        values: torch.Tensor,
        observed_mask: torch.Tensor,
        sample_posterior: bool = True,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> TimeAutoDiffVAEOutput | tuple:
        """
        Encode, sample (or take the mean of) the posterior and decode. Shapes as in `encode`/`decode`.

        `noise` (`(batch_size, sequence_length, latent_dim)`), when given, is the standard-normal draw of the
        reparameterisation (training draws it for the global batch so that data-parallel runs match one process).
        """
        posterior = self.encode(values, observed_mask)
        if not sample_posterior:
            latents = posterior.latent_mean
        elif noise is not None:
            latents = posterior.latent_mean + torch.exp(0.5 * posterior.latent_logvar) * noise.to(values)
        else:
            latents = posterior.sample(generator)
        decoded = self.decode(latents)
        if not return_dict:
            return decoded, posterior
        return TimeAutoDiffVAEOutput(decoded=decoded, posterior=posterior)

    def reconstruction_loss(
        self,
        decoded: TimeAutoDiffVAEDecoderOutput,
        values: torch.Tensor,
        observed_mask: torch.Tensor,
        step_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """
        Type-aware reconstruction loss masked by the observation mask.

        MSE for continuous cells, binary cross-entropy for binary cells and cross-entropy for categorical cells are
        averaged over the observed cells only (a missing cell has no target). The observed-or-not head is trained
        with binary cross-entropy on every real step (`step_mask`, 0 for padding steps that are not in the table).

        Args:
            decoded (`TimeAutoDiffVAEDecoderOutput`): output of `decode`.
            values (`(batch_size, sequence_length, num_columns)`): targets in model space.
            observed_mask (same shape): 1 = observed.
            step_mask (`(batch_size, sequence_length)`, *optional*): 1 for real steps, 0 for padding.

        Returns:
            `dict` with `loss` (the sum) and each part (`continuous`, `binary`, `categorical`, `observed`).
        """
        cell_losses = torch.zeros_like(values)
        if self.continuous_index:
            target = values[..., self.continuous_index]
            cell_losses[..., self.continuous_index] = (decoded.continuous - target).pow(2)
        if self.binary_index:
            target = values[..., self.binary_index].clamp(0, 1)
            cell_losses[..., self.binary_index] = F.binary_cross_entropy_with_logits(
                decoded.binary_logits, target, reduction="none"
            )
        if self.categorical_index:
            logits = decoded.categorical_logits.split(self.categorical_sizes, dim=-1)
            for position, (column, size) in enumerate(zip(self.categorical_index, self.categorical_sizes)):
                target = values[..., column].round().long().clamp(0, size - 1)
                cell_losses[..., column] = F.cross_entropy(
                    logits[position].reshape(-1, size), target.reshape(-1), reduction="none"
                ).view_as(target)
        denominator = observed_mask.sum(dim=(0, 1)).clamp(min=1.0)
        per_column = (cell_losses * observed_mask).sum(dim=(0, 1)) / denominator
        parts = {}
        for name, index in (
            ("continuous", self.continuous_index),
            ("binary", self.binary_index),
            ("categorical", self.categorical_index),
        ):
            parts[name] = per_column[index].sum() / per_column.numel() if index else values.new_zeros(())
        steps = torch.ones_like(values[..., 0]) if step_mask is None else step_mask
        observed_losses = F.binary_cross_entropy_with_logits(decoded.observed_logits, observed_mask, reduction="none")
        parts["observed"] = (observed_losses.mean(dim=-1) * steps).sum() / steps.sum().clamp(min=1.0)
        parts["loss"] = parts["continuous"] + parts["binary"] + parts["categorical"] + parts["observed"]
        return parts

    def decode_to_values(
        self,
        latents: torch.Tensor,
        generator: torch.Generator | None = None,
        sample_categories: bool = False,
        category_chains: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
        given_values: torch.Tensor | None = None,
        given_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Decode unscaled latents to model-space cell values and the probability that each cell is observed.

        Args:
            latents (`(batch_size, sequence_length, latent_dim)`): unscaled latents.
            generator (`torch.Generator`, *optional*): used when `sample_categories=True`.
            sample_categories (`bool`, *optional*, defaults to `False`): draw binary/categorical values from the
                predicted probabilities instead of taking the most likely one.
            category_chains (`dict`, *optional*): column index -> `(log transition matrix, log frequencies)` of a
                binary or categorical column (`category_paths.log_chain`); such a column is decoded as the most
                likely path through time instead of step by step (ignored with `sample_categories=True`).
            given_values, given_mask (`(batch_size, sequence_length, num_columns)`, *optional*): cells the paths
                must pass through (model space, 1 = given).

        Returns:
            `(values, observed_probability)`, both `(batch_size, sequence_length, num_columns)`.
        """
        decoded = self.decode(latents)
        batch_size, sequence_length, _ = latents.shape
        values = latents.new_zeros(batch_size, sequence_length, self.config_num_columns)
        if self.continuous_index:
            values[..., self.continuous_index] = decoded.continuous
        if self.binary_index:
            probability = decoded.binary_logits.sigmoid()
            if sample_categories:
                uniform = torch.rand(probability.shape, generator=generator, device="cpu").to(probability.device)
                values[..., self.binary_index] = (uniform < probability).to(values.dtype)
            else:
                values[..., self.binary_index] = (probability > 0.5).to(values.dtype)
        if self.categorical_index:
            logits = decoded.categorical_logits.split(self.categorical_sizes, dim=-1)
            for position, column in enumerate(self.categorical_index):
                if sample_categories:
                    probabilities = logits[position].softmax(dim=-1).reshape(-1, self.categorical_sizes[position])
                    drawn = torch.multinomial(probabilities.cpu(), 1, generator=generator).to(values.device)
                    values[..., column] = drawn.view(batch_size, sequence_length).to(values.dtype)
                else:
                    values[..., column] = logits[position].argmax(dim=-1).to(values.dtype)
        if category_chains and not sample_categories:
            for column, (log_transitions, log_frequencies) in category_chains.items():
                fixed = None
                if given_mask is not None:
                    fixed = torch.where(given_mask[..., column] > 0, given_values[..., column].round().long(), -1)
                log_posteriors = self._category_log_probabilities(decoded, column)
                values[..., column] = most_likely_paths(log_posteriors, log_transitions, log_frequencies, fixed).to(
                    values.dtype
                )
        return values, decoded.observed_logits.sigmoid()

    def _category_log_probabilities(self, decoded, column: int) -> torch.Tensor:
        """Per-step log-probabilities of a binary (as two categories) or categorical column's categories."""
        if column in self.binary_index:
            logit = decoded.binary_logits[..., self.binary_index.index(column)].float()
            return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=-1)
        position = self.categorical_index.index(column)
        start = sum(self.categorical_sizes[:position])
        logits = decoded.categorical_logits[..., start : start + self.categorical_sizes[position]]
        return logits.float().log_softmax(dim=-1)

    @property
    def config_num_columns(self) -> int:
        return len(self.config.column_kinds)
