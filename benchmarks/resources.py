"""Resource limits of timeautodiff_hf: peak memory (RSS) and wall time of large generation requests, of a very wide
table (300 columns) and of long windows (512 steps).

    python benchmarks/resources.py [--model benchmarks/runs/bike/model] [--quick] [--output FILE]

Every case runs in its own Python subprocess, so its peak RSS is its own: the parent reads it from `os.wait4`
(`ru_maxrss` of that child). Inside each case, `/proc/self/clear_refs` resets the kernel's high-water mark before
each phase (load, generate, train, sample), so the JSON also has the peak of each phase, the RSS before it (the
baseline it grew from) and a coarse RSS timeline sampled every 0.25 s.

Cases:

1. `generate`: N sequences of the training window (24 steps) from a saved bike-sharing model with DPM-Solver++
   (`--gen-steps`, default 10), `output_type="np"` or the default DataFrame output, at `batch_size` 512 / 2048, for
   N = 10,000 and 100,000. The size of the output itself (NumPy `nbytes`, DataFrame `memory_usage(deep=True)`) is
   reported beside the peak, so the overhead is visible. Peak RSS does not depend on the number of denoising steps
   (a 10-step control case is always run), so `--gen-steps 2` is a cheap way to measure the 100,000 cases.
2. `train_sample` on a seeded synthetic hourly table of 300 columns (200 continuous with 1 % missing cells, 60 binary,
   40 categorical with string labels): a short training run, then sampling 200 sequences; the saved model size.
3. `train_sample` with `--sequence_length 512` on the bundled bike-sharing table (batch 16), then sampling 100
   sequences of 512 steps.

`--quick` shrinks every case (a smoke run in about a minute on 2 cores; its generation cases reuse the small model
the long-window case trains, unless `--model` is given). Set `OMP_NUM_THREADS=1` when the CPU
is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = ROOT / "runs" / "bike" / "model"
MB = 1024 * 1024


# ---------------------------------------------------------------------- memory helpers (run inside a case)
def _status_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def current_rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """High-water mark since the last `reset_peak` (or process start)."""
    return _status_kb("VmHWM") / 1024


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssTimeline:
    """Samples the process RSS in a background thread (to see when, within a phase, the peak happens)."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.samples, self.started = interval, [], time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((round(time.perf_counter() - self.started, 2), round(current_rss_mb(), 1)))
            self._stop.wait(self.interval)

    def mark(self, label: str) -> None:
        self.samples.append((round(time.perf_counter() - self.started, 2), round(current_rss_mb(), 1), label))

    def stop(self, max_points: int = 400) -> list:
        self._stop.set()
        self._thread.join()
        stride = max(1, math.ceil(len(self.samples) / max_points))
        return [s for i, s in enumerate(self.samples) if i % stride == 0 or len(s) == 3]


class Phase:
    """Wall time, RSS before and peak RSS of one phase of a case."""

    def __init__(self, record: dict, name: str, timeline: RssTimeline):
        self.record, self.name, self.timeline = record, name, timeline

    def __enter__(self):
        import gc

        gc.collect()
        self.timeline.mark(f"{self.name} start")
        self.peak_reset = reset_peak()
        self.rss_before = current_rss_mb()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.record[self.name] = {
            "seconds": round(time.perf_counter() - self.started, 2),
            "rss_before_mb": round(self.rss_before, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_is_phase_only": self.peak_reset,
        }
        self.timeline.mark(f"{self.name} end")
        return False


def folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / MB


# ---------------------------------------------------------------------- tables
def wide_table(num_rows: int, num_continuous: int, num_binary: int, num_categorical: int, seed: int = 0):
    """Seeded hourly table with mixed columns; continuous columns are smooth daily cycles plus noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    hours = np.arange(num_rows)
    columns = {"time": pd.date_range("2024-01-01", periods=num_rows, freq="h")}
    phase = rng.uniform(0, 2 * np.pi, num_continuous)
    scale = rng.uniform(0.5, 20, num_continuous)
    for i in range(num_continuous):
        series = scale[i] * (np.sin(2 * np.pi * hours / 24 + phase[i]) + 0.3 * rng.normal(size=num_rows))
        series[rng.random(num_rows) < 0.01] = np.nan
        columns[f"x{i}"] = series
    for i in range(num_binary):
        columns[f"b{i}"] = (rng.random(num_rows) < rng.uniform(0.1, 0.9)).astype(int)
    for i in range(num_categorical):
        labels = np.array([f"c{i}_{k}" for k in range(int(rng.integers(3, 13)))])
        columns[f"k{i}"] = labels[rng.integers(0, len(labels), num_rows)]
    return pd.DataFrame(columns)


def train_flags(train_file: Path, output_dir: Path, spec: dict) -> list[str]:
    flags = ["--train_file", str(train_file), "--time_column", spec["time_column"], "--output_dir", str(output_dir)]
    if spec.get("metadata_columns"):
        flags += ["--metadata_columns", ",".join(spec["metadata_columns"])]
    if spec.get("column_kinds"):
        flags += ["--column_kinds", ",".join(f"{k}={v}" for k, v in spec["column_kinds"].items())]
    for name in ("sequence_length", "vae_steps", "denoiser_steps", "batch_size"):
        flags += [f"--{name}", str(spec[name])]
    return flags + ["--seed", "0", "--report_to", "none"]


# ---------------------------------------------------------------------- cases (each in a subprocess)
def dpm_pipeline(model: str):
    from diffusers import DPMSolverMultistepScheduler

    from timeautodiff_hf import TimeAutoDiffPipeline

    pipe = TimeAutoDiffPipeline.from_pretrained(model)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def output_stats(frames, output_type: str) -> dict:
    if output_type == "np":
        return {
            "generated_sequences": int(frames.shape[0]),
            "sequence_length": int(frames.shape[1]),
            "output_mb": round(frames.nbytes / MB, 1),
            "output_dtype": str(frames.dtype),
        }
    return {
        "generated_sequences": int(frames["sequence_id"].nunique()),
        "sequence_length": int(len(frames) // max(1, frames["sequence_id"].nunique())),
        "output_mb": round(float(frames.memory_usage(deep=True).sum()) / MB, 1),
        "output_rows": len(frames),
    }


def case_generate(spec: dict, record: dict, timeline: RssTimeline) -> None:
    import torch

    with Phase(record, "load", timeline):
        pipe = dpm_pipeline(spec["model"])
    with Phase(record, "generate", timeline):
        output = pipe(
            num_sequences=spec["num_sequences"],
            num_inference_steps=spec["steps"],
            output_type=spec["output_type"],
            batch_size=spec["batch_size"],
            generator=torch.Generator().manual_seed(0),
        )
    record.update(output_stats(output.frames, spec["output_type"]))
    if spec["output_type"] == "np" and output.observed_mask is not None:
        # __call__ also returns an observed mask of the same shape as the values (all zeros for generation).
        record["observed_mask_mb"] = round(output.observed_mask.nbytes / MB, 1)
    record["sequences_per_second"] = round(spec["num_sequences"] / record["generate"]["seconds"], 1)


def case_train_sample(spec: dict, record: dict, timeline: RssTimeline) -> None:
    import torch

    from timeautodiff_hf.trainer import main as train
    from timeautodiff_hf.trainer import parse_args

    work = Path(spec["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    with Phase(record, "build_table", timeline):
        if spec["table"] == "wide":
            table = wide_table(spec["num_rows"], *spec["widths"])
        else:
            from timeautodiff_hf.sample_data import load_bike_sharing

            table = load_bike_sharing(spec.get("num_rows"))
        train_file = work / "train.parquet"
        table.to_parquet(train_file)
    record["table_rows"], record["table_columns"] = int(len(table)), int(table.shape[1] - 1)
    record["table_mb"] = round(float(table.memory_usage(deep=True).sum()) / MB, 1)
    del table
    output_dir = work / "model"
    with Phase(record, "train", timeline):
        train(parse_args(train_flags(train_file, output_dir, spec)))
    record["model_mb"] = round(folder_size_mb(output_dir), 2)
    record["weights_mb"] = round(sum(f.stat().st_size for f in output_dir.rglob("*.safetensors")) / MB, 2)
    with Phase(record, "load", timeline):
        pipe = dpm_pipeline(str(output_dir))
    record["fitted_columns"] = int(pipe.processor.num_columns)
    record["latent_dim"] = int(pipe.vae.config.latent_dim) if hasattr(pipe.vae.config, "latent_dim") else None
    with Phase(record, "sample", timeline):
        frames = pipe(
            num_sequences=spec["num_sequences"],
            num_inference_steps=spec["steps"],
            sequence_length=spec["sequence_length"],
            batch_size=spec.get("sample_batch_size", 512),
            generator=torch.Generator().manual_seed(0),
        ).frames
    record.update(output_stats(frames, "pd"))


def case_prepare_model(spec: dict, record: dict, timeline: RssTimeline) -> None:
    """Train the bike-sharing model the generation cases use when no saved one is given."""
    from timeautodiff_hf.sample_data import BIKE_SHARING_SCHEMA, load_bike_sharing
    from timeautodiff_hf.trainer import main as train
    from timeautodiff_hf.trainer import parse_args

    Path(spec["model"]).parent.mkdir(parents=True, exist_ok=True)
    train_file = Path(spec["model"]).parent / "bike.parquet"
    load_bike_sharing(spec.get("num_rows")).to_parquet(train_file)
    flags = ["--train_file", str(train_file), "--time_column", BIKE_SHARING_SCHEMA["time_column"]]
    flags += ["--metadata_columns", ",".join(BIKE_SHARING_SCHEMA["metadata_columns"])]
    flags += ["--vae_steps", str(spec["vae_steps"]), "--denoiser_steps", str(spec["denoiser_steps"])]
    flags += ["--output_dir", spec["model"], "--validation_fraction", "0"]
    with Phase(record, "train", timeline):
        train(parse_args(flags))


CASES = {"generate": case_generate, "train_sample": case_train_sample, "prepare_model": case_prepare_model}


def run_case_here(spec: dict, result_path: str) -> None:
    sys.path.insert(0, str(ROOT.parent))
    record = {"phases": {}}
    timeline = RssTimeline()
    try:
        CASES[spec["kind"]](spec, record["phases"], timeline)
        # Scalars recorded by the case live beside the phases.
        for key in [k for k, v in record["phases"].items() if not isinstance(v, dict)]:
            record[key] = record["phases"].pop(key)
    finally:
        record["rss_timeline"] = timeline.stop()
        Path(result_path).write_text(json.dumps(record))


# ---------------------------------------------------------------------- parent
def run_case(name: str, spec: dict, timeout: float) -> dict:
    """Run one case in a fresh interpreter; its own peak RSS comes from `os.wait4`."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    command = [sys.executable, str(Path(__file__).resolve()), "--_case", json.dumps(spec), "--_result", result_path]
    print(f"[{name}] running ...", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    record = {"name": name, "spec": {k: v for k, v in spec.items() if k != "work_dir"}}
    try:
        record.update(json.loads(Path(result_path).read_text()))
    except (OSError, ValueError):
        pass
    finally:
        Path(result_path).unlink(missing_ok=True)
    record["returncode"] = process.returncode
    record["process_seconds"] = round(seconds, 1)
    # ru_maxrss (kilobytes on Linux) is the high-water mark since the child's last /proc/self/clear_refs reset,
    # i.e. of its last phase; the case's peak is the largest of it and the per-phase peaks.
    record["wait4_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
    phase_peaks = [phase["peak_rss_mb"] for phase in record.get("phases", {}).values()]
    record["process_peak_rss_mb"] = max([record["wait4_maxrss_mb"], *phase_peaks])
    summary = {k: record.get(k) for k in ("returncode", "process_seconds", "process_peak_rss_mb", "output_mb")}
    print(f"[{name}] {summary}", flush=True)
    return record


def machine_info() -> dict:
    import torch

    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    return {
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "total_ram_gb": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "torch": torch.__version__,
        "torch_threads_in_cases": int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def plan(options, work_dir: Path) -> list[tuple[str, dict]]:
    quick = options.quick
    cases = []
    model = options.model
    if model is None and DEFAULT_MODEL.exists() and not quick:
        model = str(DEFAULT_MODEL)
    if model is None and quick:
        # The smoke run saves a subprocess (~15 s of imports): generation reuses the bike-sharing model that the
        # long-window case trains (its sequences then have that model's window length).
        model = str(work_dir / "long" / "model")
    if model is None:
        model = str(work_dir / "bike_model")
        steps = 2 if quick else 50
        spec = {"kind": "prepare_model", "model": model, "vae_steps": steps, "denoiser_steps": steps}
        spec["num_rows"] = 1000 if quick else None
        cases.append(("prepare_model", spec))
    # 1. generation at scale
    if quick:
        sizes, large = [], [300]
        batches = [128]
    else:
        sizes, large = [10_000], [100_000]
        batches = [512, 2048]
    generation = []
    gen_steps = options.gen_steps or (2 if quick else 10)
    for count in sizes:
        generation.append((count, "np", batches[0], 10))  # the 10-step control (peak RSS vs step count)
        generation += [(count, "np", batch, gen_steps) for batch in batches]
        generation.append((count, "pd", batches[0], gen_steps))
    for count in large:
        generation += [(count, "np", batches[0], gen_steps), (count, "pd", batches[0], gen_steps)]
    seen = set()
    for count, output_type, batch, steps in generation:
        if (count, output_type, batch, steps) in seen:
            continue
        seen.add((count, output_type, batch, steps))
        spec = {
            "kind": "generate",
            "model": model,
            "num_sequences": count,
            "output_type": output_type,
            "batch_size": batch,
            "steps": steps,
        }
        cases.append((f"generate_{count}_{output_type}_b{batch}_s{steps}", spec))
    # 2. very wide table
    wide = {
        "kind": "train_sample",
        "table": "wide",
        "num_rows": 300 if quick else 3000,
        "widths": [200, 60, 40],
        "time_column": "time",
        "sequence_length": 24,
        "vae_steps": 2 if quick else 30,
        "denoiser_steps": 2 if quick else 30,
        "batch_size": 64,
        "num_sequences": 20 if quick else 200,
        "steps": 2 if quick else 10,
        "work_dir": str(work_dir / "wide"),
    }
    # 3. long windows
    from_bike = {
        "time_column": "datetime",
        "metadata_columns": ["holiday", "workingday", "weathersit", "temp", "atemp", "hum", "windspeed"],
    }
    long = {
        "kind": "train_sample",
        "table": "bike",
        "num_rows": 800 if quick else None,
        **from_bike,
        "sequence_length": 64 if quick else 512,
        "vae_steps": 2 if quick else 30,
        "denoiser_steps": 2 if quick else 30,
        "batch_size": 16,
        "num_sequences": 10 if quick else 100,
        "steps": 2 if quick else 10,
        "work_dir": str(work_dir / "long"),
        "provides_model": model == str(work_dir / "long" / "model"),
    }
    # wide and long first: they are the cheap ones, and generation reuses nothing from them
    return [
        (f"wide_{sum(wide['widths'])}_columns", wide),
        (f"long_{long['sequence_length']}_steps", long),
        *cases,
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=f"Saved bike-sharing model (default {DEFAULT_MODEL}).")
    parser.add_argument("--quick", action="store_true", help="Shrink every case (smoke run).")
    parser.add_argument(
        "--gen-steps", type=int, default=None, help="DPM-Solver++ steps of the generation cases (10; 2 with --quick)."
    )
    parser.add_argument("--only", default=None, help="Comma list of case-name prefixes to run.")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per case.")
    parser.add_argument("--output", default=None)
    parser.add_argument("--_case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_result", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options._case is not None:
        run_case_here(json.loads(options._case), options._result)
        return
    work_dir = Path(tempfile.mkdtemp(prefix="timeautodiff-resources-"))
    report = {
        "command": " ".join(["python", "benchmarks/resources.py", *sys.argv[1:]]),
        "quick": options.quick,
        "gen_steps": options.gen_steps or (2 if options.quick else 10),
        "machine": machine_info(),
        "cases": [],
    }
    started = time.perf_counter()
    output = Path(options.output or ROOT / "results" / f"resources{'_quick' if options.quick else ''}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        for name, spec in plan(options, work_dir):
            if options.only and spec["kind"] != "prepare_model" and not spec.get("provides_model"):
                if not any(name.startswith(prefix) for prefix in options.only.split(",")):
                    continue
            report["cases"].append(run_case(name, spec, options.timeout))
            output.write_text(json.dumps(report, indent=2))  # partial results survive an interrupted run
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}")
    failed = [case["name"] for case in report["cases"] if case.get("returncode") != 0]
    if failed:
        sys.exit(f"cases failed: {failed}")


if __name__ == "__main__":
    main()
