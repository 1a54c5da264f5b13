"""Push a saved TimeAutoDiff model to the Hub in one commit, load it back by repo id and check it samples the same."""

import argparse
import hashlib
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="Saved model folder (default: train a small one here).")
    parser.add_argument("--repo-id", required=True, help="Target repo, 'org/name' (created if needed).")
    parser.add_argument("--endpoint", default=None, help="Another Hub endpoint than huggingface.co (e.g. a mirror).")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--revision", default=None, help="Branch to push to and load from (default: main).")
    parser.add_argument("--cache-dir", default=None, help="Download cache (default: the Hugging Face cache).")
    parser.add_argument("--output-dir", default="examples_output/hub")
    parser.add_argument("--num-inference-steps", type=int, default=50)
    parser.add_argument("--vae-steps", type=int, default=800, help="Training steps when no --model is given.")
    parser.add_argument("--denoiser-steps", type=int, default=1500, help="Training steps when no --model is given.")
    options = parser.parse_args()
    if options.endpoint:
        # huggingface_hub reads HF_ENDPOINT once, when it is imported: set it before importing anything that uses it.
        os.environ["HF_ENDPOINT"] = options.endpoint

    import torch

    from timeautodiff_hf import TimeAutoDiffPipeline, train_bike_sharing_model

    if options.model is None:  # a small model trained on the bundled table (a few minutes on a CPU)
        options.model = train_bike_sharing_model(
            os.path.join(options.output_dir, "model"), options.vae_steps, options.denoiser_steps
        )

    # 1. push: safetensors weights, configs, processor JSON, training_args.json and a fresh model card, one commit
    local = TimeAutoDiffPipeline.from_pretrained(options.model)
    url = local.push_to_hub(
        options.repo_id, private=options.private or None, revision=options.revision, endpoint=options.endpoint
    )
    print(f"commit: {url}")

    # 2. load by repo id (TimeAutoDiffPipeline.from_pretrained, not the generic DiffusionPipeline loader)
    remote = TimeAutoDiffPipeline.from_pretrained(
        options.repo_id, revision=options.revision, cache_dir=options.cache_dir
    )

    # 3. the same seed gives the same table from both copies
    def checksum(pipe) -> str:
        generator = torch.Generator().manual_seed(0)
        frames = pipe(num_sequences=4, num_inference_steps=options.num_inference_steps, generator=generator).frames
        return hashlib.sha256(frames.to_csv(index=False).encode()).hexdigest()

    local_sum, remote_sum = checksum(local), checksum(remote)
    print(f"checksum of 4 generated sequences: local {local_sum[:16]}  loaded from the Hub {remote_sum[:16]}")
    if local_sum != remote_sum:
        raise SystemExit("The pipeline loaded from the Hub does not reproduce the local one.")
    print(f"Loaded {options.repo_id} from the Hub: identical samples.")


if __name__ == "__main__":
    main()
