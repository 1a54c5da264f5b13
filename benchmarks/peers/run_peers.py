"""Trains and runs the peer models on the task files written by `compare_peers.py prepare` (peers venv only).

    benchmarks/runs/peers-venv/bin/python benchmarks/peers/run_peers.py --run-dir benchmarks/runs/peers/bike \
        [--budget-minutes 9] [--quick] [--csdi-samples 3] \
        [--peers par,dgan,saits,csdi,autoets,seasonal_naive,linear_interpolation]

This script must not import timeautodiff_hf: it runs in `benchmarks/runs/peers-venv` (see `setup_env.sh`), whose
pandas/numpy are whatever the peers accept. It reads `RUN_DIR/task/` and writes `RUN_DIR/outputs/PEER/`:

| peer | task | output |
|---|---|---|
| `par` (SDV PARSynthesizer) | generation | `synthetic.parquet`: `num_windows` windows of `sequence_length` steps |
| `dgan` (Gretel DoppelGANger, PyTorch) | generation | `synthetic.parquet` |
| `saits`, `csdi` (PyPOTS) | imputation | `imputed.parquet`: the test table with the hidden cells filled |
| `autoets` (statsforecast) | forecast | `forecast.parquet`: `origin`, `step` and the target columns |
| `seasonal_naive` | forecast | `forecast.parquet` (the last season repeated) |
| `linear_interpolation` | imputation | `imputed.parquet` |

Training data for every generator and imputer: the stride-1 windows of the training part (what TimeAutoDiff trains
on). Every trained peer gets the same wall-clock training budget (`--budget-minutes`, default 9 = TimeAutoDiff's
default training time on bike sharing; `--quick`: 1 minute): epochs run until the next one would pass the budget.
Each peer runs in its own subprocess, so its `timing.json` holds its own peak RSS (`getrusage`, whole process:
loading, training and inference), training and sampling wall time, epochs done and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd

SEQUENCE_ID = "sequence_id"
CSDI_SAMPLES = 3
PEERS = ["seasonal_naive", "linear_interpolation", "autoets", "saits", "dgan", "csdi", "par"]
VERSIONS = {
    "par": ["sdv", "deepecho", "rdt"],
    "dgan": ["gretel-synthetics"],
    "saits": ["pypots"],
    "csdi": ["pypots"],
    "autoets": ["statsforecast"],
}


class BudgetReached(Exception):
    """Raised from a training callback when the wall-clock budget is used up."""


# ---------------------------------------------------------------------------------------------------- task helpers
# Seasons of history a statistical forecaster reads before an origin (compare_peers gives ours the same).
HISTORY_SEASONS = 14


class Task:
    def __init__(self, run_dir: Path):
        folder = run_dir / "task"
        self.info = json.loads((folder / "task.json").read_text())
        self.train = pd.read_parquet(folder / "train.parquet")
        self.test = pd.read_parquet(folder / "test.parquet")
        self.hidden = pd.read_parquet(folder / "hidden_mask.parquet")
        self.series = pd.read_parquet(folder / "forecast_series.parquet")
        self.schema = self.info["schema"]
        self.length = int(self.info["sequence_length"])
        self.targets = list(self.info["targets"])
        self.columns = [c["name"] for c in self.info["columns"]]
        self.kinds = {c["name"]: c["kind"] for c in self.info["columns"]}
        self.continuous = [c for c in self.columns if self.kinds[c] == "continuous"]
        self.discrete = [c for c in self.columns if self.kinds[c] != "continuous"]
        self.sentinels = {k: v for k, v in self.info.get("missing_values", {}).items() if v}

    def clean(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Missing-value sentinels (e.g. AirQuality's -200) -> NaN."""
        frame = frame.copy()
        for name, values in self.sentinels.items():
            frame[name] = frame[name].mask(frame[name].isin(values))
        return frame

    def entity_parts(self, frame: pd.DataFrame) -> list[pd.DataFrame]:
        entity, time_column = self.schema.get("entity_column"), self.schema.get("time_column")
        parts = [group for _, group in frame.groupby(entity, sort=False)] if entity else [frame]
        return [part.sort_values(time_column) if time_column else part for part in parts]

    def train_windows(self, columns: list[str], stride: int = 1) -> list[pd.DataFrame]:
        """Stride windows of the training part inside runs of consecutive time steps (as TimeAutoDiff cuts them)."""
        windows = []
        for part in self.entity_parts(self.clean(self.train)):
            for run in self.regular_runs(part):
                for start in range(0, len(run) - self.length + 1, stride):
                    windows.append(run.iloc[start : start + self.length][columns])
        return windows

    def regular_runs(self, part: pd.DataFrame) -> list[pd.DataFrame]:
        time_column = self.schema.get("time_column")
        if not time_column or self.info["frequency"] in ("None", "none"):
            return [part.reset_index(drop=True)]
        times = pd.to_datetime(part[time_column])
        step = pd.tseries.frequencies.to_offset(self.info["frequency"])
        breaks = np.flatnonzero((times + step).to_numpy()[:-1] != times.to_numpy()[1:]) + 1
        edges = [0, *breaks.tolist(), len(part)]
        return [part.iloc[a:b].reset_index(drop=True) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def versions(peer: str) -> dict:
    found = {"python": sys.version.split()[0], "pandas": pd.__version__, "numpy": np.__version__}
    for name in VERSIONS.get(peer, []) + (["torch"] if peer in ("par", "dgan", "saits", "csdi") else []):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = None
    return found


def deadline_iterator(iterable, deadline: float, counter: dict):
    """Yields from `iterable` while the next item is expected to end before `deadline`."""
    last = None
    for item in iterable:
        now = time.perf_counter()
        if last is not None and now + (now - last) > deadline:
            return
        last = now
        counter["epochs"] = counter.get("epochs", 0) + 1
        yield item


# ---------------------------------------------------------------------------------------------------- generators
def run_par(task: Task, budget: float, seed: int) -> tuple[dict, dict]:
    import torch
    from deepecho.models import par as deepecho_par
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    torch.manual_seed(seed)
    # Non-overlapping windows: SDV/deepecho preprocess sequence by sequence in Python, and stride-1 windows
    # (~14k sequences) did not finish preprocessing in 400 s on this machine.
    windows = task.train_windows(task.columns, stride=task.length)
    frame = pd.concat(windows, ignore_index=True)
    frame.insert(0, SEQUENCE_ID, np.repeat(np.arange(len(windows)), task.length))
    frame[SEQUENCE_ID] = frame[SEQUENCE_ID].astype(str)
    columns = {SEQUENCE_ID: {"sdtype": "id"}}
    for name in task.columns:
        columns[name] = {"sdtype": "numerical" if task.kinds[name] == "continuous" else "categorical"}
    metadata = Metadata.load_from_dict(
        {"tables": {"windows": {"columns": columns, "sequence_key": SEQUENCE_ID}}, "METADATA_SPEC_VERSION": "V1"}
    )
    # Unbounded epochs, cut by the wall-clock budget: PAR trains full-batch, one optimiser step per epoch.
    counter: dict = {}
    started = time.perf_counter()
    deadline = started + budget
    original_tqdm = deepecho_par.tqdm
    deepecho_par.tqdm = lambda iterable, **_: deadline_iterator(iterable, deadline, counter)
    try:
        synthesizer = PARSynthesizer(metadata, epochs=1_000_000, cuda=False, verbose=False)
        synthesizer.fit({"windows": frame})
    finally:
        deepecho_par.tqdm = original_tqdm
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = synthesizer.sample_sequences(task.info["num_windows"], sequence_length=task.length)
    synthetic = synthetic["windows"] if isinstance(synthetic, dict) else synthetic
    sample_seconds = time.perf_counter() - started
    synthetic[SEQUENCE_ID] = pd.factorize(synthetic[SEQUENCE_ID])[0]
    outputs = {"synthetic": synthetic[[SEQUENCE_ID, *task.columns]]}
    timing = {
        "generation": {"train_seconds": train_seconds, "sample_seconds": sample_seconds, "epochs": counter["epochs"]},
        "training_windows": len(windows),
        "settings": "PARSynthesizer defaults (sample_size 1), non-overlapping training windows as sequences, "
        "no context columns",
    }
    return outputs, timing


def run_dgan(task: Task, budget: float, seed: int) -> tuple[dict, dict]:
    import torch
    from gretel_synthetics.timeseries_dgan.config import DGANConfig, OutputType
    from gretel_synthetics.timeseries_dgan.dgan import DGAN

    torch.manual_seed(seed)
    np.random.seed(seed)
    windows = task.train_windows(task.columns)
    # Numpy interface: continuous columns as floats, discrete columns as integer codes (DGAN one-hot encodes them).
    codes = {name: sorted(pd.concat([w[name] for w in windows]).dropna().unique().tolist()) for name in task.discrete}
    features = np.stack(
        [
            np.column_stack(
                [
                    window[name].map({v: i for i, v in enumerate(codes[name])}).to_numpy(float)
                    if name in codes
                    else window[name].to_numpy(float)
                    for name in task.columns
                ]
            )
            for window in windows
        ]
    )
    types = [OutputType.DISCRETE if name in codes else OutputType.CONTINUOUS for name in task.columns]
    # A window with a missing cell cannot be used by DGAN (it rejects NaN features): drop those windows.
    keep = ~np.isnan(features).any(axis=(1, 2))
    features = features[keep]
    config = DGANConfig(
        max_sequence_len=task.length,
        sample_len=2,
        batch_size=min(256, len(features)),
        epochs=1_000_000,
        cuda=False,
        apply_feature_scaling=True,
        apply_example_scaling=False,
        use_attribute_discriminator=False,
    )
    model = DGAN(config)
    counter = {"batches": 0, "epochs": 0}
    started = time.perf_counter()
    deadline = started + budget
    epoch_started = [started]

    def callback(info) -> None:
        counter["batches"] += 1
        if info.batch == info.total_batches - 1:
            counter["epochs"] = info.epoch + 1
            now = time.perf_counter()
            if now + (now - epoch_started[0]) > deadline:
                raise BudgetReached
            epoch_started[0] = now

    try:
        model.train_numpy(features=features, feature_types=types, progress_callback=callback)
    except BudgetReached:
        pass
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    _, generated = model.generate_numpy(task.info["num_windows"])
    sample_seconds = time.perf_counter() - started
    generated = np.asarray(generated, dtype=float)
    frame = pd.DataFrame(generated.reshape(-1, len(task.columns)), columns=task.columns)
    for name in task.columns:
        if name in codes:
            index = np.clip(np.rint(frame[name].to_numpy()), 0, len(codes[name]) - 1).astype(int)
            frame[name] = np.asarray(codes[name], dtype=object)[index]
            frame[name] = frame[name].astype(task.train[name].dtype)
    frame.insert(0, SEQUENCE_ID, np.repeat(np.arange(len(generated)), task.length))
    timing = {
        "generation": {"train_seconds": train_seconds, "sample_seconds": sample_seconds, "epochs": counter["epochs"]},
        "training_windows": int(len(features)),
        "settings": "DGANConfig(sample_len=2, batch_size=256, feature scaling, no attribute discriminator); "
        "epochs cut by the budget",
    }
    return {"synthetic": frame}, timing


# ---------------------------------------------------------------------------------------------------- imputers
def imputation_arrays(task: Task):
    """Standardised continuous columns: training windows (stride 1) and the test part cut into tiles."""
    columns = task.continuous
    train = task.clean(task.train)
    mean = train[columns].astype(float).mean()
    std = train[columns].astype(float).std().replace(0, 1.0)
    windows = task.train_windows(columns)
    x_train = np.stack([((w.astype(float) - mean) / std).to_numpy() for w in windows]).astype(np.float32)
    test = task.clean(task.test)
    holes = test[columns].astype(float).copy()
    for name in task.targets:
        holes[name] = holes[name].mask(task.hidden[name].to_numpy())
    scaled = ((holes - mean) / std).to_numpy()
    num_tiles = int(np.ceil(len(scaled) / task.length))
    padded = np.full((num_tiles * task.length, len(columns)), np.nan)
    padded[: len(scaled)] = scaled
    return x_train, padded.reshape(num_tiles, task.length, len(columns)).astype(np.float32), mean, std, holes


def fill_test(task: Task, tiles: np.ndarray, mean, std, holes: pd.DataFrame) -> pd.DataFrame:
    values = tiles.reshape(-1, len(task.continuous))[: len(holes)] * std.to_numpy() + mean.to_numpy()
    filled = task.test.copy()
    for index, name in enumerate(task.continuous):
        if name in task.targets:
            column = holes[name].to_numpy()
            filled[name] = np.where(np.isnan(column), values[:, index], column)
    return filled


def run_pypots(task: Task, budget: float, seed: int, peer: str) -> tuple[dict, dict]:
    import torch
    from pypots.imputation import CSDI, SAITS

    torch.manual_seed(seed)
    np.random.seed(seed)
    x_train, x_test, mean, std, holes = imputation_arrays(task)
    n_features = x_train.shape[-1]
    common = {"n_steps": task.length, "n_features": n_features, "epochs": 1, "device": "cpu", "verbose": False}
    if peer == "saits":
        model = SAITS(
            n_layers=2, d_model=128, n_heads=4, d_k=32, d_v=32, d_ffn=256, dropout=0.1, batch_size=64, **common
        )
        settings = "SAITS(n_layers=2, d_model=128, n_heads=4, d_k=d_v=32, d_ffn=256, dropout=0.1, batch 64)"
    else:
        model = CSDI(
            n_layers=4,
            n_heads=8,
            n_channels=64,
            d_time_embedding=128,
            d_feature_embedding=16,
            d_diffusion_embedding=128,
            n_diffusion_steps=50,
            batch_size=64,
            **common,
        )
        settings = "CSDI(4 layers, 8 heads, 64 channels, 50 diffusion steps, batch 64; PyPOTS/paper defaults)"
    # One "epoch" per fit call on a random chunk of the training windows (model and optimiser carry over between
    # calls), the chunk sized so a call takes about 20 s: a full epoch of CSDI takes longer than the whole budget.
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    chunk, windows_seen, calls, last = min(256, len(x_train)), 0, 0, 0.0
    while True:
        call_start = time.perf_counter()
        model.fit({"X": x_train[rng.choice(len(x_train), chunk, replace=False)]})
        calls += 1
        windows_seen += chunk
        last = time.perf_counter() - call_start
        chunk = int(np.clip(chunk * 20.0 / max(last, 1e-3), 64, len(x_train)))
        remaining = started + budget - time.perf_counter()
        if remaining < 2.0:
            break
        chunk = min(chunk, max(64, int(chunk * remaining / 20.0)))
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if peer == "csdi":
        samples = model.predict({"X": x_test}, n_sampling_times=CSDI_SAMPLES)["imputation"]
        imputed = np.median(samples, axis=1)
        settings += f"; median of {CSDI_SAMPLES} samples"
    else:
        imputed = model.predict({"X": x_test})["imputation"]
    sample_seconds = time.perf_counter() - started
    filled = fill_test(task, np.asarray(imputed), mean, std, holes)
    timing = {
        "imputation": {
            "train_seconds": train_seconds,
            "sample_seconds": sample_seconds,
            "epochs": round(windows_seen / len(x_train), 2),
            "fit_calls": calls,
        },
        "training_windows": int(len(x_train)),
        "features": task.continuous,
        "settings": settings + "; standardised continuous columns; test part cut into consecutive tiles",
    }
    return {"imputed": filled}, timing


def run_linear_interpolation(task: Task, budget: float, seed: int) -> tuple[dict, dict]:
    started = time.perf_counter()
    test = task.clean(task.test)
    filled = task.test.copy()
    entity = task.schema.get("entity_column")
    for name in task.targets:
        holes = test[name].astype(float).mask(task.hidden[name].to_numpy())
        if entity:
            holes = holes.groupby(test[entity]).transform(lambda s: s.interpolate(limit_direction="both"))
        else:
            holes = holes.interpolate(limit_direction="both")
        filled[name] = np.where(task.hidden[name].to_numpy(), holes, filled[name].astype(float))
    seconds = time.perf_counter() - started
    return {"imputed": filled}, {"imputation": {"train_seconds": 0.0, "sample_seconds": seconds}}


# ---------------------------------------------------------------------------------------------------- forecasters
def entity_histories(
    train: pd.DataFrame, series: pd.DataFrame, schema: dict, origins: list[int]
) -> dict[int, tuple[pd.DataFrame, int, int]]:
    """
    For every forecast origin: its entity's training part followed by that entity's part of the forecast series, the
    row of the origin in it and the number of training rows (a panel task's forecast series holds every entity's
    test part in turn).
    """
    entity, time_column = schema.get("entity_column"), schema.get("time_column")
    keys = series[entity] if entity else pd.Series(0, index=series.index)
    starts = {key: int(rows[0]) for key, rows in keys.groupby(keys, sort=False).indices.items()}
    histories = {}
    for key, start in starts.items():
        part = train[train[entity] == key] if entity else train
        part = part.sort_values(time_column, kind="stable") if time_column else part
        histories[key] = (pd.concat([part, series[keys == key]], ignore_index=True), len(part) - start, len(part))
    result = {}
    for origin in origins:
        history, shift, num_train = histories[keys.iloc[origin]]
        result[origin] = (history, shift + origin, num_train)
    return result


def origin_histories(task: Task) -> dict[int, tuple[pd.DataFrame, int, int]]:
    """`entity_histories` of the task's origins, missing-value sentinels as NaN."""
    return entity_histories(task.clean(task.train), task.clean(task.series), task.schema, task.info["origins"])


def run_seasonal_naive(task: Task, budget: float, seed: int) -> tuple[dict, dict]:
    started = time.perf_counter()
    period, horizon = task.info["seasonal_period"], task.info["horizon"]
    rows = []
    for origin, (history, end, num_train) in origin_histories(task).items():
        frame = pd.DataFrame({"origin": origin, "step": np.arange(horizon)})
        for name in task.targets:
            # a missing cell of the last season takes the latest observed value before it in the origin's entity's
            # test rows (never a sentinel, never another entity's value)
            last_season = history[name].astype(float).iloc[num_train:end].ffill().to_numpy()[-period:]
            frame[name] = np.resize(last_season, horizon)
        rows.append(frame)
    seconds = time.perf_counter() - started
    return {"forecast": pd.concat(rows, ignore_index=True)}, {
        "forecast": {"train_seconds": 0.0, "sample_seconds": seconds}
    }


def run_autoets(task: Task, budget: float, seed: int, history_seasons: int = HISTORY_SEASONS) -> tuple[dict, dict]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    period, horizon = task.info["seasonal_period"], task.info["horizon"]
    length = history_seasons * period
    parts = []
    for origin, (history, end, num_train) in origin_histories(task).items():
        for name in task.targets:
            values = history[name].astype(float).iloc[max(0, end - length) : end].interpolate(limit_direction="both")
            if values.isna().all():  # a column missing throughout the window: its training mean
                values = values.fillna(history[name].astype(float).iloc[:num_train].mean())
            parts.append(pd.DataFrame({"unique_id": f"{origin}|{name}", "ds": np.arange(len(values)), "y": values}))
    frame = pd.concat(parts, ignore_index=True)
    started = time.perf_counter()
    forecaster = StatsForecast(models=[AutoETS(season_length=period)], freq=1, n_jobs=1)
    predicted = forecaster.forecast(df=frame, h=horizon)
    seconds = time.perf_counter() - started
    predicted = predicted.reset_index() if "unique_id" not in predicted.columns else predicted
    predicted["step"] = predicted.groupby("unique_id").cumcount()
    predicted[["origin", "column"]] = predicted["unique_id"].str.split("|", n=1, expand=True)
    predicted["origin"] = predicted["origin"].astype(int)
    wide = predicted.pivot_table(index=["origin", "step"], columns="column", values="AutoETS").reset_index()
    timing = {
        "forecast": {"train_seconds": seconds, "sample_seconds": 0.0},
        "settings": f"AutoETS(season_length={period}) fitted per origin and column on the last {history_seasons} "
        f"seasons ({length} steps, training tail + test history); fit and forecast time counted as training",
    }
    return {"forecast": wide[["origin", "step", *task.targets]]}, timing


RUNNERS = {
    "par": run_par,
    "dgan": run_dgan,
    "saits": lambda task, budget, seed: run_pypots(task, budget, seed, "saits"),
    "csdi": lambda task, budget, seed: run_pypots(task, budget, seed, "csdi"),
    "autoets": run_autoets,
    "seasonal_naive": run_seasonal_naive,
    "linear_interpolation": run_linear_interpolation,
}


def run_one(run_dir: Path, peer: str, budget: float, seed: int) -> None:
    out = run_dir / "outputs" / peer
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.parquet"):
        old.unlink()
    record = {"method": peer, "budget_seconds": budget, "seed": seed}
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ImportError:
        pass
    try:
        task = Task(run_dir)
        outputs, timing = RUNNERS[peer](task, budget, seed)
        for name, frame in outputs.items():
            frame.to_parquet(out / f"{name}.parquet", index=False)
        record.update(
            status="ok", tasks={k: v for k, v in timing.items() if isinstance(v, dict) and "train_seconds" in v}
        )
        record.update({k: v for k, v in timing.items() if k not in record["tasks"]})
    except Exception as error:  # noqa: BLE001 - a failed peer is recorded, not fatal
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        print(record["traceback"], file=sys.stderr)
    record["peak_rss_mb"] = peak_rss_mb()
    try:
        record["versions"] = versions(peer)
    except Exception as error:  # noqa: BLE001
        record["versions"] = {"error": str(error)}
    (out / "timing.json").write_text(json.dumps(record, indent=2, default=str))


def main() -> None:
    global CSDI_SAMPLES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True, help="Folder with task/ from `compare_peers.py prepare`.")
    parser.add_argument("--peers", default=",".join(PEERS), help="Comma-separated subset of " + ", ".join(PEERS))
    parser.add_argument("--budget-minutes", type=float, default=9.0, help="Wall-clock training budget per peer.")
    parser.add_argument("--quick", action="store_true", help="1 minute per peer (smoke run).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--csdi-samples", type=int, default=CSDI_SAMPLES, help="CSDI draws per test tile (median; sampling is slow)."
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    CSDI_SAMPLES = options.csdi_samples
    run_dir = Path(options.run_dir)
    budget = 60.0 if options.quick else options.budget_minutes * 60.0
    if options.child:
        run_one(run_dir, options.child, budget, options.seed)
        return
    summary = {"budget_seconds": budget, "quick": options.quick, "peers": {}}
    for peer in [p.strip() for p in options.peers.split(",") if p.strip()]:
        if peer not in RUNNERS:
            raise SystemExit(f"unknown peer {peer!r}; expected one of {PEERS}")
        print(f"== {peer} (budget {budget:.0f} s)", flush=True)
        started = time.perf_counter()
        command = [sys.executable, __file__, "--run-dir", str(run_dir), "--child", peer, "--seed", str(options.seed)]
        command += ["--budget-minutes", str(budget / 60.0), "--csdi-samples", str(options.csdi_samples)]
        timing_file = run_dir / "outputs" / peer / "timing.json"
        timing_file.unlink(missing_ok=True)  # never read an earlier run's record as this one's
        returncode = subprocess.run(command, check=False).returncode
        if timing_file.is_file():
            record = json.loads(timing_file.read_text())
        else:  # killed (out of memory, a signal) before it could record anything
            record = {
                "method": peer,
                "status": "failed",
                "error": f"its process ended with code {returncode} without writing timing.json",
            }
        record.pop("traceback", None)
        record["process_seconds"] = time.perf_counter() - started
        summary["peers"][peer] = record
        print(json.dumps({k: record.get(k) for k in ("status", "error", "tasks", "peak_rss_mb")}, default=str))
    summary["environment"] = {"python": sys.version.split()[0], "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    (run_dir / "outputs" / "run_peers.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
