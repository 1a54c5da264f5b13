"""Held-out-block discriminative score and marginal distance of trained models' unconditional windows, per sampler.

python benchmarks/extra/generation_by_sampler.py DATASET MODEL_DIR [MODEL_DIR ...] [--samplers dpm20,sde10,ddpm100]
    [--reference]

The real windows are the training period's (the time split of `model_quality.py`), scored as `compare_peers.py
score` scores them (whole time blocks held out of the classifier's training windows). Samplers: `dpmN`
(deterministic DPM-Solver++, what `compare_peers.py` uses with N = 20), `sdeN` (stochastic DPM-Solver++, the CLI's
`--scheduler sde-dpm`), `ddpmN`, each with N steps. `--reference` also scores the real-vs-real floor (the
non-overlapping windows of the other blocks). Used for the training-length and seed comparisons of session 8.
`--ablations` also scores each model with one generation feature switched off (session 9): `step-decoding`
(categories decoded step by step, `pipe.decode_category_paths = False`) and `complete-timeline` (no absent steps
reproduced: the processor's `gap_patterns` dropped); since session 10 also `sampled-calendar` (calendar columns
sampled like the others, `pipe.fill_calendar_columns = False`).
"""

import argparse
import re
import time
from functools import partial

import torch
from _held_out import add_scoring_arguments, held_out_scores, training_reference
from compare_peers import spaced_reference_windows, windows_to_features
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline

SCHEDULERS = {
    "dpm": DPMSolverMultistepScheduler.from_config,
    "sde": partial(DPMSolverMultistepScheduler.from_config, algorithm_type="sde-dpmsolver++"),
    "ddpm": DDPMScheduler.from_config,
}


def parse_sampler(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"(dpm|sde|ddpm)(\d+)", text)
    if match is None:
        raise SystemExit(f"unknown sampler {text!r}: expected dpmN, sdeN or ddpmN (N steps), e.g. sde10")
    return match.group(1), int(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_arguments(parser)
    parser.add_argument("--samplers", default="dpm20,sde10,ddpm100")
    parser.add_argument("--reference", action="store_true", help="Also score real windows of the other blocks.")
    parser.add_argument(
        "--ablations",
        action="store_true",
        help="Also score with step-by-step categories / a complete timeline / sampled calendar columns.",
    )
    options = parser.parse_args()
    samplers = [parse_sampler(text) for text in options.samplers.split(",")]
    torch.set_num_threads(1)
    processor = TimeAutoDiffPipeline.from_pretrained(options.models[0]).processor
    train, real, blocks = training_reference(options.dataset, processor, options.windows)
    layout = processor.feature_layout()

    def score(name: str, features) -> None:
        mean, std, distance = held_out_scores(real, blocks, features, layout, options.repeats, options.steps)
        print(f"{name:60s} held-out disc {mean:.3f} ± {std:.3f}  marginal {distance:.3f}", flush=True)

    if options.reference:
        reference = spaced_reference_windows(processor, train, options.windows)
        score(f"real windows of the other blocks ({len(reference)})", reference)
    ablations = ["step-decoding", "complete-timeline", "sampled-calendar"]
    variants = ["as trained"] + (ablations if options.ablations else [])
    for model in options.models:
        for variant in variants:
            pipe = TimeAutoDiffPipeline.from_pretrained(model)
            pipe.set_progress_bar_config(disable=True)
            pipe.decode_category_paths = variant != "step-decoding"
            pipe.fill_calendar_columns = variant != "sampled-calendar"
            if variant == "complete-timeline":
                pipe.processor.time_info.pop("gap_patterns", None)
            for kind, steps in samplers:
                pipe.scheduler = SCHEDULERS[kind](pipe.scheduler.config)
                started = time.perf_counter()
                frames = pipe.generate(
                    num_sequences=options.windows,
                    num_inference_steps=steps,
                    generator=torch.Generator().manual_seed(0),
                )
                seconds = time.perf_counter() - started
                generated, _ = windows_to_features(frames, processor, processor.sequence_length)
                label = "" if variant == "as trained" else f" [{variant}]"
                score(f"{model} {kind}{steps}{label} ({seconds:.0f} s sampling)", generated)


if __name__ == "__main__":
    main()
