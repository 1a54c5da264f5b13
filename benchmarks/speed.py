"""Sampling speed of timeautodiff_hf: schedulers and step counts (with the fidelity each keeps), batch sizes,
sequence length, number of columns, and a per-time-step autoregressive latent sampler as the baseline that
"whole trajectory at once" generation replaces.

    python benchmarks/speed.py --model benchmarks/runs/bike/model [--quick] [--device cuda]

Every timing is wall-clock on the given device after one warm-up call, median of `--repeats` runs, with a fixed
generator. Fidelity per scheduler is the discriminative score (metrics.discriminative_score, 1 repeat in quick
mode) and the mean marginal distance of the generated windows against real windows of the bundled table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timeautodiff_hf import TimeAutoDiffPipeline, load_bike_sharing  # noqa: E402
from timeautodiff_hf.metrics import discriminative_score, marginal_distances  # noqa: E402
from timeautodiff_hf.trainer import main as train  # noqa: E402
from timeautodiff_hf.trainer import parse_args  # noqa: E402

SAMPLERS = {
    "ddpm": DDPMScheduler.from_config,
    "ddim": DDIMScheduler.from_config,
    "dpm": DPMSolverMultistepScheduler.from_config,
    # stochastic DPM-Solver++ (the CLI's `--scheduler sde-dpm`): keeps DDPM 100's fidelity at 10 steps
    # (bike sharing and ETTh1; 8 steps keep it on bike sharing only, `extra/few_step_fidelity.py`)
    "sde-dpm": partial(DPMSolverMultistepScheduler.from_config, algorithm_type="sde-dpmsolver++"),
}
# the few-step sampler of the latency, length, column and autoregressive-baseline measurements
FAST_SAMPLER, FAST_STEPS = "sde-dpm", 10


def timed(function, repeats: int) -> float:
    function()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return float(np.median(durations))


def cpu_description() -> dict:
    """The CPU's name and the matrix units that decide bfloat16 speed (Linux; empty elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags", "").split()
    return {
        "model_name": fields.get("model name", ""),
        "cores_visible": os.cpu_count(),
        "bf16_units": [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags],
    }


def with_scheduler(pipe: TimeAutoDiffPipeline, name: str) -> TimeAutoDiffPipeline:
    pipe.scheduler = SAMPLERS[name](pipe.scheduler.config)
    return pipe


def generate_features(pipe, count: int, steps: int, length: int | None = None, seed: int = 0) -> np.ndarray:
    windows = pipe(
        num_sequences=count,
        num_inference_steps=steps,
        sequence_length=length,
        output_type="np",
        generator=torch.Generator().manual_seed(seed),
    ).frames
    return pipe.processor.to_features(np.nan_to_num(windows), ~np.isnan(windows))


def autoregressive_baseline(pipe, count: int, steps: int, length: int) -> None:
    """One denoising chain per time step: step t is generated given steps < t (the forecast mask), t = 1..length."""
    processor = pipe.processor
    times = np.stack(
        [processor.step_timestamps(processor.to_internal_time(processor.time_info["start"]), length)] * count
    )
    values = np.zeros((count, 1, processor.num_columns))
    for position in range(length):
        window = min(position + 1, processor.sequence_length)
        start = position + 1 - window
        current = np.concatenate([values[:, start:], np.zeros((count, 1, processor.num_columns))], axis=1)[:, -window:]
        mask = np.ones_like(current)
        mask[:, -1] = 0.0
        if position == 0:
            mask[:] = 0.0
        generated, _ = pipe._sample(
            current * mask,
            mask,
            processor.time_features(times[:, start : position + 1]),
            steps,
            1.0,
            torch.Generator().manual_seed(position),
            512,
        )
        values = generated if position == 0 else np.concatenate([values, generated[:, -1:]], axis=1)


def column_scaling(widths: list[int], count: int, steps: int, work_dir: Path, device: str) -> list[dict]:
    """Tiny models on synthetic tables of `width` columns: sampling time of `count` windows (latent_dim fixed 8)."""
    rows = []
    rng = np.random.default_rng(0)
    for width in widths:
        table = pd.DataFrame(rng.normal(size=(600, width)), columns=[f"c{i}" for i in range(width)])
        table.insert(0, "time", pd.date_range("2024-01-01", periods=600, freq="h"))
        path = work_dir / f"wide_{width}.parquet"
        table.to_parquet(path)
        output = work_dir / f"wide_{width}"
        train(
            parse_args(
                [
                    "--train_file",
                    str(path),
                    "--time_column",
                    "time",
                    "--vae_steps",
                    "5",
                    "--denoiser_steps",
                    "5",
                    "--latent_dim",
                    "8",
                    "--output_dir",
                    str(output),
                    "--validation_fraction",
                    "0",
                ]
            )
        )
        pipe = with_scheduler(TimeAutoDiffPipeline.from_pretrained(output).to(device), FAST_SAMPLER)
        pipe.set_progress_bar_config(disable=True)
        seconds = timed(
            lambda pipe=pipe: pipe(
                num_sequences=count,
                num_inference_steps=steps,
                output_type="np",
                generator=torch.Generator().manual_seed(0),
            ),
            2,
        )
        rows.append({"columns": width, "latent_dim": 8, "sequences": count, "steps": steps, "seconds": seconds})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Saved bike-sharing model (default: train a quick one).")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=None)
    options = parser.parse_args()
    root = Path(__file__).resolve().parent
    work_dir = root / "runs" / "speed"
    work_dir.mkdir(parents=True, exist_ok=True)
    model = options.model
    if model is None:
        model = str(work_dir / "bike_quick")
        train(
            parse_args(
                [
                    "--train_file",
                    str(Path(__import__("timeautodiff_hf").bike_sharing_path())),
                    "--time_column",
                    "datetime",
                    "--vae_steps",
                    "50",
                    "--denoiser_steps",
                    "50",
                    "--output_dir",
                    model,
                ]
            )
        )
    pipe = TimeAutoDiffPipeline.from_pretrained(model).to(options.device)
    pipe.set_progress_bar_config(disable=True)
    # The same weights in bfloat16 (the networks only; latents and scheduler stay float32): on CPUs with AMX or
    # AVX-512 BF16 the matrix products run on bf16 units, on GPUs on tensor cores.
    reduced_pipe = TimeAutoDiffPipeline.from_pretrained(model, dtype=torch.bfloat16).to(options.device)
    reduced_pipe.set_progress_bar_config(disable=True)
    repeats = 1 if options.quick else options.repeats
    report = {
        "device": options.device,
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_description(),
        # glibc returns large freed buffers to the system and faults them back in on the next step; these settings
        # (see RESULTS.md, "Speed") keep them, and change CPU timings by 10-30 % on some machines
        "malloc_environment": {key: value for key, value in os.environ.items() if key.startswith("MALLOC_")},
        "model": model,
        "quick": options.quick,
    }
    if options.device.startswith("cuda"):
        report["device_name"] = torch.cuda.get_device_name()

    # 1. schedulers and step counts: time for 200 sequences and the fidelity they keep
    real_table = load_bike_sharing()
    # Real windows from every phase of the whole table (a single later period is told apart by season and year).
    batch = pipe.processor.encode(real_table, stride=1)
    real = pipe.processor.to_features(batch["values"], batch["observed_mask"])
    real = real[np.random.default_rng(0).choice(len(real), min(1000, len(real)), replace=False)]
    float32, bfloat16 = torch.float32, torch.bfloat16
    configurations = [("ddpm", 100, float32), ("ddim", 50, float32), ("ddim", 20, float32), ("dpm", 20, float32)]
    configurations += [("dpm", 10, float32), ("sde-dpm", 10, float32), ("sde-dpm", 8, float32)]
    configurations.append((FAST_SAMPLER, FAST_STEPS, bfloat16))
    if options.quick:
        configurations = [("ddpm", 20, float32), (FAST_SAMPLER, FAST_STEPS, float32), (FAST_SAMPLER, 4, bfloat16)]
    samplers = []
    for name, steps, dtype in configurations:
        sampler_pipe = with_scheduler(reduced_pipe if dtype == bfloat16 else pipe, name)
        seconds = timed(
            lambda steps=steps, sampler_pipe=sampler_pipe: sampler_pipe(
                num_sequences=200,
                num_inference_steps=steps,
                output_type="np",
                generator=torch.Generator().manual_seed(0),
            ),
            repeats,
        )
        synthetic = generate_features(sampler_pipe, len(real), steps)
        disc = discriminative_score(
            real, synthetic, num_repeats=1 if options.quick else 3, num_steps=150 if options.quick else 400
        )
        samplers.append(
            {
                "scheduler": name,
                "steps": steps,
                "dtype": str(dtype).removeprefix("torch."),
                "seconds_200x24": round(seconds, 3),
                "discriminative_score": round(disc["mean"], 4),
                "marginal_distance": round(
                    marginal_distances(real, synthetic, pipe.processor.feature_layout())["mean"], 4
                ),
            }
        )
        print(samplers[-1], flush=True)
    report["samplers"] = samplers

    # 2. latency and throughput by request size (the few-step sampler)
    with_scheduler(pipe, FAST_SAMPLER)
    report["fast_sampler"] = {"scheduler": FAST_SAMPLER, "steps": FAST_STEPS}
    sizes = [1, 200, 1000] if options.quick else [1, 200, 10_000]
    throughput = []
    for size in sizes:
        seconds = timed(
            lambda size=size: pipe(
                num_sequences=size,
                num_inference_steps=FAST_STEPS,
                output_type="np",
                generator=torch.Generator().manual_seed(0),
            ),
            1 if size > 1000 else repeats,
        )
        throughput.append(
            {"sequences": size, "seconds": round(seconds, 3), "sequences_per_second": round(size / seconds, 1)}
        )
        print(throughput[-1], flush=True)
    report["throughput_fast"] = throughput

    # 3. sequence length: stitched window-by-window generation vs the per-step autoregressive baseline
    lengths = [24, 96] if options.quick else [24, 96, 384]
    length_rows = []
    for length in lengths:
        seconds = timed(
            lambda length=length: pipe(
                num_sequences=200,
                num_inference_steps=FAST_STEPS,
                sequence_length=length,
                output_type="np",
                generator=torch.Generator().manual_seed(0),
            ),
            repeats,
        )
        length_rows.append({"sequence_length": length, "whole_windows_seconds": round(seconds, 3)})
        print(length_rows[-1], flush=True)
    report["sequence_length_fast_200_sequences"] = length_rows
    baseline_length = 24
    seconds = timed(lambda: autoregressive_baseline(pipe, 200, FAST_STEPS, baseline_length), 1)
    report["autoregressive_baseline"] = {
        "sequence_length": baseline_length,
        "sequences": 200,
        "steps": FAST_STEPS,
        "seconds": round(seconds, 3),
        "speedup_of_whole_sequence": round(seconds / length_rows[0]["whole_windows_seconds"], 1),
    }
    print(report["autoregressive_baseline"], flush=True)

    # 4. number of columns (latent compression keeps the denoiser's cost flat)
    report["columns_fast_200_sequences"] = column_scaling(
        [5, 20] if options.quick else [5, 20, 80, 300], 200, FAST_STEPS, work_dir, options.device
    )
    print(report["columns_fast_200_sequences"], flush=True)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["minor_page_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    if torch.cuda.is_initialized():
        report["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    output = Path(options.output or root / "results" / f"speed{'_quick' if options.quick else ''}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
