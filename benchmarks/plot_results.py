"""Plots of the benchmark results: `python benchmarks/plot_results.py` reads results/*.json, writes results/*.png."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def plot_quality() -> Path | None:
    reports = {
        path.stem.removeprefix("quality_"): json.loads(path.read_text())
        for path in sorted(RESULTS.glob("quality_*.json"))
        if not path.stem.endswith("_quick")
    }
    if not reports:
        return None
    figure, axes = plt.subplots(1, 4, figsize=(18, 4))
    panels = [
        ("autocorrelation error (lower is better)", lambda r: r["generation"]["autocorrelation_error"]),
        ("marginal distance (lower is better)", lambda r: r["generation"]["marginal_distance"]),
        ("imputation MAE / std", lambda r: r["imputation"]["normalised_mae"]),
        ("forecast 24->24 MAE / std", lambda r: r["forecast"]["normalised_mae"]),
    ]
    for axis, (title, getter) in zip(axes, panels):
        names = list(reports)
        methods = list(getter(reports[names[0]]))
        width = 0.8 / len(methods)
        for index, method in enumerate(methods):
            values = [getter(reports[name]).get(method, float("nan")) for name in names]
            axis.bar([position + index * width for position in range(len(names))], values, width, label=method)
        axis.set_xticks([position + 0.4 - width / 2 for position in range(len(names))], names)
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path = RESULTS / "quality.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_speed() -> Path | None:
    path = RESULTS / "speed.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    samplers = report["samplers"]
    # rows without a dtype come from runs before session 8 (float32 only)
    labels = [
        f"{row['scheduler']}-{row['steps']}" + ("" if row.get("dtype", "float32") == "float32" else f" {row['dtype']}")
        for row in samplers
    ]
    axes[0].bar(labels, [row["seconds_200x24"] for row in samplers])
    axes[0].tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[0].set_title("seconds for 200 x 24-step sequences", fontsize=9)
    twin = axes[0].twinx()
    twin.plot(labels, [row["discriminative_score"] for row in samplers], color="black", marker="o")
    twin.set_ylabel("discriminative score")
    fast = report["fast_sampler"]
    fast_name = f"{fast['scheduler']}-{fast['steps']}"
    lengths = report["sequence_length_fast_200_sequences"]
    axes[1].plot(
        [row["sequence_length"] for row in lengths], [row["whole_windows_seconds"] for row in lengths], marker="o"
    )
    axes[1].set_title(f"seconds vs sequence length (200 sequences, {fast_name})", fontsize=9)
    columns = report["columns_fast_200_sequences"]
    axes[2].plot([row["columns"] for row in columns], [row["seconds"] for row in columns], marker="o")
    axes[2].set_xscale("log")
    axes[2].set_title("seconds vs number of columns (latent_dim 8)", fontsize=9)
    figure.tight_layout()
    output = RESULTS / "speed.png"
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


def plot_gpu() -> Path | None:
    """The same model's `speed.py` runs on the CPU box (`speed.json`) and on GPUs (`gpu_*_speed.json`)."""
    cpu_path, gpu_paths = RESULTS / "speed.json", sorted(RESULTS.glob("gpu_*_speed.json"))
    if not cpu_path.is_file() or not gpu_paths:
        return None
    runs = {"CPU (2 cores)": json.loads(cpu_path.read_text())}
    for path in gpu_paths:
        report = json.loads(path.read_text())
        runs[report.get("device_name", path.stem)] = report
    figure, axes = plt.subplots(1, 4, figsize=(20, 4))
    width = 0.8 / len(runs)
    for index, (name, report) in enumerate(runs.items()):
        samplers = report["samplers"]
        labels = [
            f"{row['scheduler']}-{row['steps']}" + ("" if row.get("dtype", "float32") == "float32" else " bf16")
            for row in samplers
        ]
        positions = [position + index * width for position in range(len(labels))]
        axes[0].bar(positions, [row["seconds_200x24"] for row in samplers], width, label=name)
        axes[0].set_xticks([position + 0.4 - width / 2 for position in range(len(labels))], labels, rotation=45)
        sizes = report["throughput_fast"]
        axes[1].plot(
            [row["sequences"] for row in sizes], [row["sequences_per_second"] for row in sizes], "o-", label=name
        )
        lengths = report["sequence_length_fast_200_sequences"]
        axes[2].plot(
            [row["sequence_length"] for row in lengths],
            [row["whole_windows_seconds"] for row in lengths],
            "o-",
            label=name,
        )
        columns = report["columns_fast_200_sequences"]
        axes[3].plot([row["columns"] for row in columns], [row["seconds"] for row in columns], "o-", label=name)
    axes[0].set_title("seconds for 200 x 24-step sequences", fontsize=9)
    axes[1].set_title("sequences / second by request size (sde-dpm 10)", fontsize=9)
    axes[2].set_title("seconds vs sequence length (200 sequences, sde-dpm 10)", fontsize=9)
    axes[3].set_title("seconds vs number of columns (200 x 24, latent_dim 8)", fontsize=9)
    for axis in axes:
        axis.set_yscale("log")
        axis.legend(fontsize=7)
    for axis in axes[1:]:
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lengths = [row["sequence_length"] for row in runs["CPU (2 cores)"]["sequence_length_fast_200_sequences"]]
    axes[2].set_xticks(lengths, [str(length) for length in lengths])
    figure.tight_layout()
    output = RESULTS / "speed_gpu.png"
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


if __name__ == "__main__":
    print(plot_quality(), plot_speed(), plot_gpu())
