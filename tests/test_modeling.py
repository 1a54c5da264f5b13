"""Tests of TimeAutoDiffVAE and TimeAutoDiffDenoiser at tiny sizes."""

import pytest
import torch

from timeautodiff_hf import TimeAutoDiffDenoiser, TimeAutoDiffVAE
from timeautodiff_hf.masking import sample_condition_mask

KINDS = ["continuous", "categorical", "binary", "continuous"]
SIZES = [0, 3, 2, 0]


def make_vae(**overrides) -> TimeAutoDiffVAE:
    torch.manual_seed(0)
    config = dict(
        column_kinds=KINDS, category_sizes=SIZES, latent_dim=2, embedding_dim=4, hidden_size=16, num_fourier_features=4
    )
    config.update(overrides)
    return TimeAutoDiffVAE(**config)


def make_denoiser() -> TimeAutoDiffDenoiser:
    torch.manual_seed(0)
    return TimeAutoDiffDenoiser(
        latent_dim=2,
        column_kinds=KINDS,
        category_sizes=SIZES,
        num_time_features=3,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        embedding_dim=4,
        num_fourier_features=4,
    )


def make_batch(batch_size: int = 3, length: int = 6):
    generator = torch.Generator().manual_seed(1)
    values = torch.stack(
        [
            torch.randn(batch_size, length, generator=generator),
            torch.randint(0, 3, (batch_size, length), generator=generator).float(),
            torch.randint(0, 2, (batch_size, length), generator=generator).float(),
            torch.randn(batch_size, length, generator=generator),
        ],
        dim=-1,
    )
    observed_mask = (torch.rand(values.shape, generator=generator) > 0.2).float()
    return values * observed_mask, observed_mask


def test_vae_encode_decode_shapes():
    vae = make_vae()
    values, observed_mask = make_batch()
    posterior = vae.encode(values, observed_mask)
    assert posterior.latent_mean.shape == (3, 6, 2)
    decoded = vae.decode(posterior.latent_mean)
    assert decoded.continuous.shape == (3, 6, 2)
    assert decoded.binary_logits.shape == (3, 6, 1)
    assert decoded.categorical_logits.shape == (3, 6, 3)
    assert decoded.observed_logits.shape == (3, 6, 4)
    cells, probability = vae.decode_to_values(posterior.latent_mean)
    assert cells.shape == (3, 6, 4) and probability.shape == (3, 6, 4)
    assert set(cells[..., 1].unique().tolist()) <= {0.0, 1.0, 2.0}
    assert set(cells[..., 2].unique().tolist()) <= {0.0, 1.0}


def test_vae_dict_and_tuple_outputs_are_equal():
    vae = make_vae()
    values, observed_mask = make_batch()
    as_dict = vae.encode(values, observed_mask)
    as_tuple = vae.encode(values, observed_mask, return_dict=False)
    assert torch.equal(as_dict.latent_mean, as_tuple[0]) and torch.equal(as_dict.latent_logvar, as_tuple[1])
    decoded = vae.decode(as_dict.latent_mean, return_dict=False)
    assert torch.equal(decoded[0], vae.decode(as_dict.latent_mean).continuous)


def test_vae_save_and_load_gives_identical_outputs(tmp_path):
    vae = make_vae()
    vae.register_to_config(scaling_factor=2.5)
    vae.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TimeAutoDiffVAE.from_pretrained(tmp_path)
    assert loaded.config.scaling_factor == 2.5
    values, observed_mask = make_batch()
    assert torch.equal(vae.encode(values, observed_mask).latent_mean, loaded.encode(values, observed_mask).latent_mean)


def test_vae_loss_ignores_missing_cells_and_gives_finite_gradients():
    vae = make_vae()
    values, observed_mask = make_batch()
    output = vae(values, observed_mask, generator=torch.Generator().manual_seed(0))
    parts = vae.reconstruction_loss(output.decoded, values, observed_mask)
    # Changing the value of a missing cell must not change the loss.
    corrupted = values.clone()
    corrupted[observed_mask == 0] = 1000.0
    parts_corrupted = vae.reconstruction_loss(output.decoded, corrupted, observed_mask)
    assert torch.allclose(parts["continuous"], parts_corrupted["continuous"])
    loss = parts["loss"] + 1e-3 * output.posterior.kl().mean()
    loss.backward()
    gradients = [parameter.grad for parameter in vae.parameters() if parameter.grad is not None]
    assert gradients and all(torch.isfinite(gradient).all() for gradient in gradients)


def test_vae_posterior_sampling_is_deterministic_with_generator():
    vae = make_vae()
    values, observed_mask = make_batch()
    posterior = vae.encode(values, observed_mask)
    first = posterior.sample(torch.Generator().manual_seed(3))
    second = posterior.sample(torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(column_kinds=["continuous"], category_sizes=[0, 1]), "equal length"),
        (dict(column_kinds=["text"], category_sizes=[0]), "column_kinds"),
        (dict(latent_dim=0), "latent_dim"),
    ],
)
def test_when_vae_config_invalid_then_raises_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_vae(**overrides)


def test_denoiser_output_shape_dict_tuple_and_any_length():
    denoiser = make_denoiser()
    values, observed_mask = make_batch()
    sample = torch.randn(3, 6, 2)
    time_features = torch.randn(3, 6, 3)
    output = denoiser(sample, torch.tensor([1, 50, 999]), time_features, values, observed_mask)
    assert output.sample.shape == (3, 6, 2)
    as_tuple = denoiser(sample, torch.tensor([1, 50, 999]), time_features, values, observed_mask, return_dict=False)
    assert torch.equal(output.sample, as_tuple[0])
    longer = denoiser(torch.randn(2, 40, 2), 10, torch.randn(2, 40, 3), torch.zeros(2, 40, 4), torch.zeros(2, 40, 4))
    assert longer.sample.shape == (2, 40, 2)


def test_denoiser_reads_observed_cells_but_not_hidden_ones():
    denoiser = make_denoiser()
    values, observed_mask = make_batch()
    sample, time_features, timestep = torch.randn(3, 6, 2), torch.randn(3, 6, 3), torch.tensor([10, 10, 10])
    base = denoiser(sample, timestep, time_features, values, observed_mask).sample
    hidden_changed = values.clone()
    hidden_changed[observed_mask == 0] = 5.0
    assert torch.allclose(base, denoiser(sample, timestep, time_features, hidden_changed, observed_mask).sample)
    observed_changed = values.clone()
    observed_changed[..., 0] = observed_changed[..., 0] + 3.0 * observed_mask[..., 0]
    assert not torch.allclose(base, denoiser(sample, timestep, time_features, observed_changed, observed_mask).sample)


def test_denoiser_save_load_round_trip_and_finite_gradients(tmp_path):
    denoiser = make_denoiser()
    values, observed_mask = make_batch()
    inputs = (torch.randn(3, 6, 2), torch.tensor([5, 6, 7]), torch.randn(3, 6, 3), values, observed_mask)
    denoiser.save_pretrained(tmp_path)
    loaded = TimeAutoDiffDenoiser.from_pretrained(tmp_path)
    assert torch.equal(denoiser(*inputs).sample, loaded(*inputs).sample)
    denoiser(*inputs).sample.pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in denoiser.parameters() if p.grad is not None)


def test_condition_masks_cover_every_task_and_never_reveal_missing_cells():
    observed_mask = torch.ones(400, 8, 4)
    observed_mask[:, 2, 1] = 0
    mask = sample_condition_mask(observed_mask, metadata_indices=[3], generator=torch.Generator().manual_seed(0))
    assert mask.shape == observed_mask.shape
    assert mask[:, 2, 1].sum() == 0
    per_example = mask.sum(dim=(1, 2))
    assert (per_example == 0).any(), "some examples must be unconditional"
    metadata_only = (mask[..., 3].sum(dim=1) == 8) & (mask[..., :3].sum(dim=(1, 2)) == 0)
    assert metadata_only.any(), "some examples must give only the metadata column"
    prefix = mask[..., 0]
    is_prefix = ((prefix[:, 1:] <= prefix[:, :-1]).all(dim=1)) & (prefix[:, 0] == 1) & (prefix[:, -1] == 0)
    assert is_prefix.any(), "some examples must be forecasts (observed prefix, hidden suffix)"
    again = sample_condition_mask(observed_mask, metadata_indices=[3], generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, again)


def test_denoiser_shortcut_for_an_empty_condition_matches_the_full_computation():
    denoiser = make_denoiser()
    sample, time_features = torch.randn(2, 6, 2), torch.randn(2, 6, 3)
    values, observed_mask = make_batch(batch_size=2)
    observed_mask[0] = 0.0
    observed_mask[1] = 0.0
    observed_mask[1, 0, 0] = 1.0  # one observed cell in the batch forces the full path for both examples
    full = denoiser(sample, torch.tensor([5, 5]), time_features, values, observed_mask).sample
    empty = torch.zeros_like(observed_mask[:1])
    shortcut = denoiser(sample[:1], torch.tensor([5]), time_features[:1], values[:1], empty).sample
    assert torch.allclose(full[:1], shortcut, atol=1e-6)


def test_denoiser_with_a_precomputed_condition_matches_the_step_by_step_computation():
    """The pipeline embeds the condition once per batch and reuses it at every denoising step."""
    denoiser = make_denoiser()
    values, observed_mask = make_batch()
    time_features = torch.randn(3, 6, 3)
    states = denoiser.encode_condition(time_features, values, observed_mask)
    assert states.shape == (3, 6, 16)
    for timestep in (1, 500, 999):
        sample = torch.randn(3, 6, 2)
        direct = denoiser(sample, timestep, time_features, values, observed_mask).sample
        cached = denoiser(sample, timestep, time_features, values, observed_mask, condition_states=states).sample
        assert torch.allclose(direct, cached, atol=1e-6)
    # the precomputed states are what the denoiser reads: another condition's states change the output
    other = denoiser.encode_condition(time_features, values + 3.0 * observed_mask, observed_mask)
    changed = denoiser(sample, 999, time_features, values, observed_mask, condition_states=other).sample
    assert not torch.allclose(direct, changed)


def test_condition_masks_teach_static_conditioning_and_leave_tables_without_static_columns_unchanged():
    observed_mask = torch.ones(600, 8, 5)
    without = sample_condition_mask(observed_mask, metadata_indices=[3], generator=torch.Generator().manual_seed(0))
    same = sample_condition_mask(
        observed_mask, metadata_indices=[3], generator=torch.Generator().manual_seed(0), static_indices=[]
    )
    assert torch.equal(without, same)
    assert without[..., 4].sum(dim=1).eq(8).logical_and(without[..., :4].sum(dim=(1, 2)).eq(0)).sum() == 0
    mask = sample_condition_mask(
        observed_mask, metadata_indices=[3], generator=torch.Generator().manual_seed(0), static_indices=[1, 4]
    )
    static_given = mask[..., [1, 4]]
    given_steps = static_given.sum(dim=1)
    # Static columns given at every step (or not at all), every other column hidden: `generate(static=...)`.
    only_static = (
        (mask[..., [0, 2, 3]].sum(dim=(1, 2)) == 0)
        & ((given_steps == 0) | (given_steps == 8)).all(dim=-1)
        & (given_steps == 8).any(dim=-1)
    )
    assert only_static.float().mean() > 0.08, "some examples must give only static columns"
    subsets = given_steps[only_static]
    assert (subsets == 0).any(dim=-1).any() and (subsets == 8).all(dim=-1).any(), "subsets of the static columns too"
    with_metadata = (mask[..., 3].sum(dim=1) == 8) & (mask[..., [0, 2]].sum(dim=(1, 2)) == 0)
    assert (with_metadata & (static_given.sum(dim=(1, 2)) == 16)).any()
    assert (with_metadata & (static_given.sum(dim=(1, 2)) == 0)).any()
