"""Fidelity kept by few-step samplers on any data set: DDPM 100 (the reference) against deterministic and stochastic
DPM-Solver++ at a few steps.

    python benchmarks/extra/few_step_fidelity.py DATASET MODEL_DIR [--seeds 0 1] [--windows 1000]

For every sampler and seed: `--windows` generated 24-step windows against as many real stride-1 windows of the
training part (the time split of `model_quality.py`), scored by the discriminative score (3 repeats of 400 steps)
and the mean marginal distance (`timeautodiff_hf.metrics`), plus the seconds to generate them. `speed.py` does the
same on bike sharing with the bundled table; this driver checks that the choice of sampler carries over.
"""

import argparse
import json
import time
from functools import partial

import numpy as np
import torch
from _paths import ROOT
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from model_quality import time_split
from shared_data import load

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.metrics import discriminative_score, marginal_distances

SAMPLERS = {
    "ddpm-100": (DDPMScheduler.from_config, 100),
    "dpm-10": (DPMSolverMultistepScheduler.from_config, 10),
    "sde-dpm-10": (partial(DPMSolverMultistepScheduler.from_config, algorithm_type="sde-dpmsolver++"), 10),
    "sde-dpm-8": (partial(DPMSolverMultistepScheduler.from_config, algorithm_type="sde-dpmsolver++"), 8),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--windows", type=int, default=1000)
    options = parser.parse_args()
    table, schema, _, _ = load(options.dataset)
    train, _ = time_split(table, schema)
    pipe = TimeAutoDiffPipeline.from_pretrained(options.model)
    pipe.set_progress_bar_config(disable=True)
    processor = pipe.processor
    batch = processor.encode(train, stride=1)
    real = processor.to_features(batch["values"], batch["observed_mask"])
    real = real[np.random.default_rng(0).choice(len(real), min(options.windows, len(real)), replace=False)]
    reference = pipe.scheduler.config
    rows = []
    for name, (make, steps) in SAMPLERS.items():
        pipe.scheduler = make(reference)
        for seed in options.seeds:
            started = time.perf_counter()
            windows = pipe(
                num_sequences=len(real),
                num_inference_steps=steps,
                output_type="np",
                generator=torch.Generator().manual_seed(seed),
            ).frames
            seconds = time.perf_counter() - started
            synthetic = processor.to_features(np.nan_to_num(windows), ~np.isnan(windows))
            marginal = marginal_distances(real, synthetic, processor.feature_layout())["mean"]
            rows.append(
                {
                    "dataset": options.dataset,
                    "sampler": name,
                    "seed": seed,
                    "discriminative_score": round(discriminative_score(real, synthetic, num_steps=400)["mean"], 4),
                    "marginal_distance": round(marginal, 4),
                    "seconds": round(seconds, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    output = ROOT / "benchmarks" / "results" / f"few_step_fidelity_{options.dataset}.json"
    output.write_text(json.dumps(rows, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
