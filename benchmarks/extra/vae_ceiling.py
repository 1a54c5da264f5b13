"""How much of the discriminative gap is the VAE's: the held-out-block score of the VAE's reconstructions of real
windows, next to the real windows themselves and (optionally) the model's generated windows.

python benchmarks/extra/vae_ceiling.py DATASET MODEL_DIR [MODEL_DIR ...] [--generate]

The real windows are the training period's (the time split of `model_quality.py`), scored with whole time blocks
held out of the classifier's training windows, as `compare_peers.py score` does: the reference set is the even
blocks' windows; the compared sets are the odd blocks' non-overlapping windows as they are (the real-vs-real floor),
the same windows encoded and decoded by the model's VAE (posterior mean; cells missing in the data stay missing),
and with `--generate` as many unconditional windows (DPM-Solver++ 20). A reconstruction score near the floor means
the latent keeps what the classifier looks at, and the rest of the gap is the denoiser's.
"""

import argparse

import numpy as np
import torch
from _held_out import add_scoring_arguments, held_out_scores, training_reference
from compare_peers import spaced_window_indices, training_window_batch, windows_to_features
from diffusers import DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline


def reconstruct(pipe, values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Model-space windows through the VAE (posterior mean), with the data's missing cells kept missing."""
    values_in = torch.as_tensor(values, dtype=torch.float32)
    mask = torch.as_tensor(observed, dtype=torch.float32)
    with torch.no_grad():
        latents = pipe.vae.encode(values_in * mask, mask).latent_mean
        decoded, _ = pipe.vae.decode_to_values(latents)
    return np.where(observed > 0, decoded.numpy().astype(np.float64), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_arguments(parser)
    parser.add_argument("--generate", action="store_true", help="Also score the model's unconditional windows.")
    options = parser.parse_args()
    torch.set_num_threads(1)
    processor = TimeAutoDiffPipeline.from_pretrained(options.models[0]).processor
    train, real, blocks = training_reference(options.dataset, processor, options.windows)
    batch, window_blocks = training_window_batch(processor, train)
    picked = spaced_window_indices(batch["row_index"], window_blocks, len(train), options.windows)
    values, observed = batch["values"][picked], batch["observed_mask"][picked]
    layout = processor.feature_layout()

    def score(name: str, features: np.ndarray) -> None:
        mean, _, distance = held_out_scores(real, blocks, features, layout, options.repeats, options.steps)
        print(f"{name:48s} {len(features):5d} windows  held-out disc {mean:.3f}  marginal {distance:.3f}")

    score("real windows of the other blocks (floor)", processor.to_features(values, observed))
    for model in options.models:
        pipe = TimeAutoDiffPipeline.from_pretrained(model)
        pipe.set_progress_bar_config(disable=True)
        latent_dim = pipe.vae.config.latent_dim
        score(
            f"VAE reconstructions (latent_dim {latent_dim}) {model}",
            processor.to_features(reconstruct(pipe, values, observed), observed),
        )
        if options.generate:
            pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
            frames = pipe.generate(
                num_sequences=options.windows, num_inference_steps=20, generator=torch.Generator().manual_seed(0)
            )
            generated, _ = windows_to_features(frames, processor, processor.sequence_length)
            score(f"generated (latent_dim {latent_dim}) {model}", generated)


if __name__ == "__main__":
    main()
