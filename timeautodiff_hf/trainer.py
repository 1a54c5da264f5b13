"""Two-stage TimeAutoDiff training (VAE, then latent denoiser) through accelerate; used by the script and the CLI."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.training_utils import EMAModel, compute_snr
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from .hub import push_folder_to_hub, save_with_card
from .masking import sample_condition_mask
from .modeling_denoiser import TimeAutoDiffDenoiser
from .modeling_vae import TimeAutoDiffVAE
from .pipeline_timeautodiff import TimeAutoDiffPipeline
from .processing_timeautodiff import TimeAutoDiffProcessor, reindex_transition_counts
from .streaming import StreamingWindows, table_chunks

logger = get_logger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(vae|denoiser)-(\d+)$")
COMPLETE_MARKER = "checkpoint_complete.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a TimeAutoDiff model (processor + VAE + latent denoiser) on a long time-series table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    # data
    add("--config", type=str, default=None, help="YAML or JSON file with any of these flags as keys (flags win).")
    add("--train_file", "--train-file", type=str, default=None, help="CSV/Parquet/JSON file or a folder of them.")
    add("--dataset_name", "--dataset-name", type=str, default=None, help="A Hub dataset name (or local dataset dir).")
    add("--dataset_config_name", "--dataset-config-name", type=str, default=None, help="Dataset configuration.")
    add("--split", type=str, default="train", help="Dataset split to read.")
    add(
        "--na_values",
        "--na-values",
        type=str,
        default=None,
        help="Comma list of strings that mean missing in CSV files; when set, pandas' default NA strings (e.g. "
        "'None', 'NA') are kept as values. Use '' to treat only empty cells as missing.",
    )
    add("--time_column", "--time-column", type=str, default=None, help="Timestamp or numeric time column.")
    add("--entity_column", "--entity-column", type=str, default=None, help="Column identifying separate series.")
    add(
        "--metadata_columns",
        "--metadata-columns",
        type=str,
        default=None,
        help="Comma list of time-varying conditions.",
    )
    add("--static_columns", "--static-columns", type=str, default=None, help="Comma list of per-entity constants.")
    add(
        "--column_kinds",
        "--column-kinds",
        type=str,
        default=None,
        help="Kind overrides: name=continuous|binary|categorical,...",
    )
    add(
        "--missing_values",
        "--missing-values",
        type=str,
        default=None,
        help="Per-column sentinels meaning missing: name=-200,...",
    )
    add("--drop_columns", "--drop-columns", type=str, default=None, help="Comma list of columns to ignore.")
    add("--sequence_length", "--sequence-length", type=int, default=24, help="Steps per window.")
    add("--stride", type=int, default=1, help="Step between training window starts.")
    add(
        "--elapsed_time",
        "--elapsed-time",
        action="store_true",
        help="Condition on each step's position in the table's time span (for trends / regime changes; needs "
        "--time_column), so that generated windows follow the level of their period.",
    )
    add(
        "--validation_fraction",
        "--validation-fraction",
        type=float,
        default=0.1,
        help="Share of each entity's final period held out for validation loss (0 disables).",
    )
    add(
        "--streaming",
        action="store_true",
        help="Read the table as a stream (datasets IterableDataset) in chunks, for tables larger than memory: the "
        "processor is fitted on a row sample plus exact vocabularies/ranges, windows are cut chunk by chunk and mixed "
        "in a shuffle buffer. Rows must be sorted by entity, then time. No validation loss or early stopping.",
    )
    add(
        "--streaming_chunk_rows",
        "--streaming-chunk-rows",
        type=int,
        default=50_000,
        help="Rows read at a time with --streaming.",
    )
    add(
        "--streaming_fit_rows",
        "--streaming-fit-rows",
        type=int,
        default=200_000,
        help="With --streaming: rows sampled to fit the scalers, and head rows used to infer the time step.",
    )
    add(
        "--shuffle_buffer",
        "--shuffle-buffer",
        type=int,
        default=20_000,
        help="With --streaming: windows mixed before batching (bounds memory).",
    )
    # model
    add(
        "--latent_dim",
        "--latent-dim",
        type=int,
        default=None,
        help="Per-step latent size; default min(number of columns, 8).",
    )
    add("--vae_hidden_size", "--vae-hidden-size", type=int, default=128, help="VAE width.")
    add("--denoiser_hidden_size", "--denoiser-hidden-size", type=int, default=96, help="Denoiser width.")
    add("--denoiser_layers", "--denoiser-layers", type=int, default=2, help="Denoiser transformer blocks.")
    add("--num_heads", "--num-heads", type=int, default=4, help="Denoiser attention heads.")
    add("--num_train_timesteps", "--num-train-timesteps", type=int, default=1000, help="Diffusion steps in training.")
    add(
        "--prediction_type",
        "--prediction-type",
        type=str,
        default="v_prediction",
        choices=["epsilon", "v_prediction"],
        help="What the denoiser predicts: the velocity (default; with --snr_gamma 5 it about halved Beijing PM2.5's "
        "held-out discriminative score at the default budget against the noise, 0.125 -> 0.049-0.075, see "
        "benchmarks/RESULTS.md) or the noise.",
    )
    add(
        "--snr_gamma",
        "--snr-gamma",
        type=float,
        default=5.0,
        help="Min-SNR loss weighting (Hang et al. 2023): each timestep's loss is weighted by min(SNR, gamma) / SNR "
        "(epsilon) or / (SNR + 1) (v_prediction), so the nearly noise-free timesteps stop pulling the weights away "
        "from the noisier ones that shape a sample; 5 is the paper's value. 0 trains unweighted.",
    )
    add("--kl_weight", "--kl-weight", type=float, default=1e-3, help="Final beta of the VAE KL term.")
    add(
        "--kl_warmup_fraction",
        "--kl-warmup-fraction",
        type=float,
        default=0.3,
        help="Share of VAE steps over which beta rises linearly from 0.",
    )
    add(
        "--condition_dropout",
        "--condition-dropout",
        type=float,
        default=0.1,
        help="Extra probability of dropping the whole condition (classifier-free guidance).",
    )
    # optimisation
    add("--vae_steps", "--vae-steps", type=int, default=1500, help="VAE optimisation steps.")
    add("--denoiser_steps", "--denoiser-steps", type=int, default=3000, help="Denoiser optimisation steps.")
    add("--batch_size", "--batch-size", type=int, default=64, help="Windows per batch per process.")
    add("--learning_rate", "--learning-rate", type=float, default=2e-3, help="AdamW learning rate.")
    add(
        "--vae_learning_rate",
        "--vae-learning-rate",
        type=float,
        default=None,
        help="AdamW learning rate of the VAE stage (default: --learning_rate).",
    )
    add("--weight_decay", "--weight-decay", type=float, default=1e-4, help="AdamW weight decay.")
    add("--ema_decay", "--ema-decay", type=float, default=0.999, help="EMA decay of the denoiser (0 disables).")
    add("--gradient_accumulation_steps", "--gradient-accumulation-steps", type=int, default=1, help="Accumulation.")
    add(
        "--mixed_precision",
        "--mixed-precision",
        type=str,
        default=None,
        choices=["no", "fp16", "bf16"],
        help="Mixed precision (GPU); defaults to accelerate's config.",
    )
    add(
        "--max_train_minutes",
        "--max-train-minutes",
        type=float,
        default=None,
        help="Wall-clock budget for both stages together (split by their step counts).",
    )
    add(
        "--validation_steps",
        "--validation-steps",
        type=int,
        default=250,
        help="Evaluate validation loss every N steps.",
    )
    add(
        "--early_stopping_patience",
        "--early-stopping-patience",
        type=int,
        default=0,
        help="Stop a stage after this many validations without improvement (0 disables).",
    )
    add(
        "--forecast_calibration_origins",
        "--forecast-calibration-origins",
        type=int,
        default=48,
        help="Forecast origins of the validation period used to fit how forecasts combine with a seasonal-naive or "
        "last-value baseline (see TimeAutoDiffPipeline.calibrate_forecasts); 0 disables.",
    )
    add("--seed", type=int, default=0, help="Random seed for everything.")
    # output, checkpoints, logging, hub
    add("--output_dir", "--output-dir", type=str, default="timeautodiff-model", help="Where the pipeline is saved.")
    add(
        "--checkpointing_steps",
        "--checkpointing-steps",
        type=int,
        default=0,
        help="Save a resumable accelerate state every N steps of each stage (0 disables).",
    )
    add(
        "--checkpoints_total_limit",
        "--checkpoints-total-limit",
        type=int,
        default=None,
        help="Keep at most this many checkpoints (oldest removed).",
    )
    add(
        "--resume_from_checkpoint",
        "--resume-from-checkpoint",
        type=str,
        default=None,
        help="'latest' or a checkpoint folder to resume from. Only resume checkpoints you wrote: accelerate "
        "stores RNG and optimizer states with pickle.",
    )
    add(
        "--report_to",
        "--report-to",
        type=str,
        default="none",
        help="accelerate tracker: tensorboard, wandb, all or none.",
    )
    add("--push_to_hub", "--push-to-hub", action="store_true", help="Upload the saved model to the Hub.")
    add("--hub_model_id", "--hub-model-id", type=str, default=None, help="Repo id for --push_to_hub.")
    add("--hub_private", "--hub-private", action="store_true", help="Create the Hub repo as private.")
    add("--dataloader_num_workers", "--dataloader-num-workers", type=int, default=0, help="DataLoader workers.")
    return parser


def parse_args(input_args: list[str] | None = None) -> argparse.Namespace:
    """Parse training flags; `--config file.yaml` supplies defaults that explicit flags override."""
    parser = build_parser()
    preliminary, _ = parser.parse_known_args(input_args)
    if preliminary.config:
        config = load_config_file(preliminary.config)
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Config file {preliminary.config!r} has unknown keys {unknown}.")
        parser.set_defaults(**config)
    args = parser.parse_args(input_args)
    check_args(args)
    return args


def load_config_file(path: str) -> dict:
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        config = yaml.safe_load(text) or {}
    else:
        config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"Config file {path!r} must hold a mapping of flag names to values.")
    return {key.replace("-", "_"): value for key, value in config.items()}


def check_args(args: argparse.Namespace) -> None:
    if (args.train_file is None) == (args.dataset_name is None):
        raise ValueError("Pass exactly one of --train_file or --dataset_name.")
    for name in ("sequence_length", "stride", "batch_size", "gradient_accumulation_steps", "validation_steps"):
        value = getattr(args, name)
        if value is None or value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
    for name in (
        "vae_steps",
        "denoiser_steps",
        "checkpointing_steps",
        "early_stopping_patience",
        "forecast_calibration_origins",
    ):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be non-negative, got {getattr(args, name)!r}.")
    if not 0 <= args.validation_fraction < 1:
        raise ValueError(f"--validation_fraction must be in [0, 1), got {args.validation_fraction!r}.")
    for name in ("learning_rate", "vae_learning_rate"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise ValueError(f"--{name} must be positive, got {getattr(args, name)!r}.")
    if args.max_train_minutes is not None and args.max_train_minutes <= 0:
        raise ValueError(f"--max_train_minutes must be positive, got {args.max_train_minutes!r}.")
    if args.latent_dim is not None and args.latent_dim < 1:
        raise ValueError(f"--latent_dim must be a positive integer, got {args.latent_dim!r}.")
    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. 'your-name/traffic-timeautodiff').")
    if args.snr_gamma is None or args.snr_gamma < 0:
        raise ValueError(f"--snr_gamma must be a non-negative number (0 = unweighted), got {args.snr_gamma!r}.")
    if not 0 <= args.ema_decay < 1:
        raise ValueError(f"--ema_decay must be in [0, 1), got {args.ema_decay!r}.")
    for name in ("streaming_chunk_rows", "streaming_fit_rows", "shuffle_buffer"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)!r}.")
    if args.streaming and args.early_stopping_patience:
        raise ValueError(
            "--early_stopping_patience needs a validation loss, which --streaming does not compute; drop one of them."
        )


def parse_mapping(text: str | None, argument: str) -> dict[str, str]:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'} with a clear error for malformed items."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        if "=" not in item:
            raise ValueError(f"--{argument} items must look like name=value, got {item!r}.")
        key, value = item.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


def parse_list(text: str | None) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()] if text else []


def parse_sentinel(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


# ---------------------------------------------------------------------- data
def load_training_table(args: argparse.Namespace):
    """Read the table through `datasets` (local files, a folder, or a Hub dataset) and return a DataFrame."""
    frame = open_dataset(args).to_pandas()
    return drop_columns(frame, args)


def drop_columns(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    drop = parse_list(args.drop_columns)
    absent = [name for name in drop if name not in frame.columns]
    if absent:
        raise ValueError(f"--drop_columns names columns {absent} that are not in the table.")
    return frame.drop(columns=drop)


def open_dataset(args: argparse.Namespace, streaming: bool = False):
    """The training table as a `datasets.Dataset` (or `IterableDataset` with `streaming=True`)."""
    import datasets

    read_kwargs = {}
    if args.na_values is not None:
        read_kwargs = {"keep_default_na": False, "na_values": [value for value in args.na_values.split(",")]}
    if args.train_file is not None:
        path = Path(args.train_file)
        if not path.exists():
            raise ValueError(f"--train_file {args.train_file!r} does not exist.")
        files = sorted(str(item) for item in path.iterdir() if item.is_file()) if path.is_dir() else [str(path)]
        suffixes = {
            file.split(".")[-2] if file.endswith((".gz", ".bz2", ".xz", ".zst")) else file.split(".")[-1]
            for file in files
        }
        builders = {"csv": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet", "json": "json", "jsonl": "json"}
        kinds = {builders.get(suffix.lower()) for suffix in suffixes}
        if None in kinds or len(kinds) != 1:
            raise ValueError(
                f"--train_file must be CSV, Parquet or JSON file(s) of one kind, got suffixes {sorted(suffixes)}."
            )
        builder = kinds.pop()
        if builder != "csv":
            read_kwargs = {}
        if "tsv" in suffixes:
            read_kwargs["sep"] = "\t"
        return datasets.load_dataset(builder, data_files=files, split="train", streaming=streaming, **read_kwargs)
    return datasets.load_dataset(
        args.dataset_name, args.dataset_config_name, split=args.split, streaming=streaming, **read_kwargs
    )


def open_streamed_table(args: argparse.Namespace) -> tuple[TimeAutoDiffProcessor, StreamingWindows]:
    """Fit the processor in one pass over the streamed table and return it with a re-iterable window source."""
    dataset = open_dataset(args, streaming=True)
    drop = parse_list(args.drop_columns)

    def open_chunks():
        for chunk in table_chunks(dataset, args.streaming_chunk_rows):
            yield drop_columns(chunk, args) if drop else chunk

    processor = build_processor(args).fit_chunks(open_chunks(), sample_rows=args.streaming_fit_rows, seed=args.seed)
    return processor, StreamingWindows(processor, open_chunks)


def build_processor(args: argparse.Namespace) -> TimeAutoDiffProcessor:
    missing_values = {
        key: parse_sentinel(value) for key, value in parse_mapping(args.missing_values, "missing_values").items()
    }
    return TimeAutoDiffProcessor(
        time_column=args.time_column,
        entity_column=args.entity_column,
        metadata_columns=parse_list(args.metadata_columns),
        static_columns=parse_list(args.static_columns),
        column_kinds=parse_mapping(args.column_kinds, "column_kinds"),
        missing_values=missing_values,
        sequence_length=args.sequence_length,
        stride=args.stride,
        elapsed_time=args.elapsed_time,
    )


def window_tensors(batch: dict) -> TensorDataset:
    values = torch.from_numpy(batch["values"]).float()
    observed_mask = torch.from_numpy(batch["observed_mask"]).float()
    time_features = torch.from_numpy(batch["time_features"]).float()
    step_mask = torch.from_numpy((batch["row_index"] >= 0).astype(np.float32))
    return TensorDataset(values, observed_mask, time_features, step_mask)


# ---------------------------------------------------------------------- checkpoint helpers
class GeneratorState:
    """Makes a `torch.Generator` part of accelerate checkpoints, so resumed runs draw the same noise."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["state"])


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in training order (VAE stage first); half-written ones have no marker and are skipped."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / COMPLETE_MARKER).is_file():
            found.append((0 if match.group(1) == "vae" else 1, int(match.group(2)), path))
    return [path for _, _, path in sorted(found)]


def resolve_resume_path(args: argparse.Namespace) -> Path | None:
    if not args.resume_from_checkpoint:
        return None
    if args.resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(args.output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(args.resume_from_checkpoint)
    if CHECKPOINT_PATTERN.match(path.name) and not (path / "model.safetensors").is_file():
        raise ValueError(f"Checkpoint {str(path)!r} is incomplete (no model.safetensors); resume from another one.")
    if not CHECKPOINT_PATTERN.match(path.name) or not (path / COMPLETE_MARKER).is_file():
        raise ValueError(
            f"--resume_from_checkpoint {str(path)!r} is not a complete checkpoint folder (checkpoint-<stage>-<step> "
            f"with {COMPLETE_MARKER})."
        )
    return path


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    """Restore an accelerate state (only resume checkpoints you wrote: accelerate stores RNG and custom states as
    pickles); a corrupt checkpoint gives an error naming it."""
    try:
        check_checkpoint_weights(accelerator, path)
        accelerator.load_state(str(path), strict=False)
    except Exception as error:
        raise ValueError(f"Checkpoint {str(path)!r} is corrupt or incomplete: {error}") from error


def check_checkpoint_weights(accelerator: Accelerator, path: Path) -> None:
    """Every non-empty weight of every registered model must be in the checkpoint's safetensors files."""
    for index, model in enumerate(accelerator._models):
        file = path / ("model.safetensors" if index == 0 else f"model_{index}.safetensors")
        check_weights_present(accelerator.unwrap_model(model), file)


def check_weights_present(model: torch.nn.Module, file: Path) -> None:
    """Raise if `file` lacks a non-empty weight of `model`. accelerate leaves zero-element tensors (e.g. the binary
    head of a table without binary columns) out of its files, so checkpoints are loaded non-strictly after this."""
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        stored = set(handle.keys())
    missing = sorted(name for name, value in model.state_dict().items() if value.numel() and name not in stored)
    if missing:
        raise ValueError(f"{file.name} lacks weights {missing[:5]}")


def save_checkpoint(accelerator: Accelerator, args, stage: str, step: int, extra: dict) -> None:
    """Write an accelerate state atomically: into a temporary folder, then marked complete and renamed."""
    final = Path(args.output_dir) / f"checkpoint-{stage}-{step}"
    temporary = Path(args.output_dir) / f".tmp-checkpoint-{stage}-{step}"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(temporary))
        if accelerator.is_main_process:
            (temporary / COMPLETE_MARKER).write_text(json.dumps({"stage": stage, "step": step, **extra}))
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        previous = (list_checkpoints(args.output_dir) or [None])[-1]
        kept = f"the previous checkpoint {previous.name!r} is intact" if previous else "no earlier checkpoint exists"
        raise OSError(
            error.errno,
            f"Could not write checkpoint {final.name!r} in {str(final.parent)!r} ({error.strerror or error}); "
            f"{kept}. Free disk space or choose another --output_dir, then rerun with "
            "--resume_from_checkpoint latest.",
        ) from error
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        if args.checkpoints_total_limit:
            checkpoints = list_checkpoints(args.output_dir)
            for old in checkpoints[: max(0, len(checkpoints) - args.checkpoints_total_limit)]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------------- training
class EarlyStopping:
    """Stops a stage after `patience` validations without improvement (0 disables)."""

    def __init__(self, patience: int, min_delta: float = 1e-4):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.waited = math.inf, 0

    def should_stop(self, validation_loss: float, stage: str, step: int) -> bool:
        if validation_loss < self.best - self.min_delta:
            self.best, self.waited = validation_loss, 0
        else:
            self.waited += 1
        if self.patience and self.waited >= self.patience:
            logger.info(f"{stage} early stopping at step {step} (best validation loss {self.best:.4f}).")
            return True
        return False


def check_distributed_setup(accelerator: Accelerator) -> None:
    """Refuse several launched processes that do not form one group (each would train a full model alone)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and accelerator.num_processes == 1:
        raise RuntimeError(
            f"{world_size} processes were launched but they do not train together (accelerate found no GPU and was "
            "not told to use the CPU), so each would train its own full model. For CPU data-parallel training use "
            "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 --num_machines 1 "
            "--mixed_precision no --dynamo_backend no training/train_timeautodiff.py ...`."
        )


def main(args: argparse.Namespace) -> TimeAutoDiffPipeline:
    """Run both training stages and save the pipeline to `args.output_dir`. Returns the trained pipeline."""
    started = time.monotonic()
    output_dir = Path(args.output_dir)
    project_config = ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs"))
    report_to = None if args.report_to in (None, "none") else args.report_to
    accelerator = Accelerator(
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_config=project_config,
    )
    check_distributed_setup(accelerator)
    set_seed(args.seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    if report_to:
        accelerator.init_trackers(
            "timeautodiff", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        )

    # 1. data and processor
    if args.streaming:
        processor, train_dataset = open_streamed_table(args)
        validation_dataset = validation_table = train_table = None
        num_rows = sum(processor.time_info.get("entity_lengths") or []) or "streamed"
        if args.validation_fraction > 0:
            logger.warning("--streaming computes no validation loss; --validation_fraction is not used.")
    else:
        processor, train_dataset, validation_dataset, train_table, validation_table, num_rows = (
            prepare_in_memory_windows(args)
        )
    num_columns = processor.num_columns
    latent_dim = args.latent_dim or min(num_columns, 8)
    total_steps = max(1, args.vae_steps + args.denoiser_steps)
    budget_seconds = None if args.max_train_minutes is None else args.max_train_minutes * 60.0
    logger.info("***** TimeAutoDiff training *****")
    logger.info(f"  Rows = {num_rows}, columns = {num_columns} ({', '.join(processor.column_kinds_fitted)})")
    logger.info(
        f"  Training windows = {'streamed' if args.streaming else len(train_dataset)} of {args.sequence_length} "
        f"steps; validation windows = {0 if validation_dataset is None else len(validation_dataset)}"
    )
    logger.info(
        f"  Processes = {accelerator.num_processes}, batch per process = {args.batch_size}, total batch = "
        f"{args.batch_size * accelerator.num_processes * args.gradient_accumulation_steps}"
    )
    logger.info(f"  Steps: VAE = {args.vae_steps}, denoiser = {args.denoiser_steps}; latent_dim = {latent_dim}")

    resume_path = resolve_resume_path(args)
    resume_stage = None
    if resume_path is not None:
        match = CHECKPOINT_PATTERN.match(resume_path.name)
        resume_stage = match.group(1)
        logger.info(f"Resuming from {resume_path}")

    # 2. stage 1: the VAE
    torch.manual_seed(args.seed)
    vae = TimeAutoDiffVAE(
        column_kinds=processor.column_kinds_fitted,
        category_sizes=processor.category_sizes,
        latent_dim=latent_dim,
        hidden_size=args.vae_hidden_size,
    )
    vae_budget = None if budget_seconds is None else budget_seconds * args.vae_steps / total_steps
    vae = train_vae(
        accelerator,
        args,
        vae,
        train_dataset,
        validation_dataset,
        vae_budget,
        resume_path,
        skip=resume_stage == "denoiser",
    )
    vae = accelerator.unwrap_model(vae)
    vae.eval().requires_grad_(False)

    # 3. latents of every training window, and the scaling factor that gives them unit variance
    if args.streaming:
        standard_deviation = float(encode_latents_streamed(accelerator, vae, train_dataset, args).std())
        vae.register_to_config(scaling_factor=1.0 / max(standard_deviation, 1e-6))
        latent_dataset = EncodedStream(train_dataset, vae)
    else:
        latents = encode_latents(accelerator, vae, train_dataset)
        standard_deviation = float(latents.std())
        vae.register_to_config(scaling_factor=1.0 / max(standard_deviation, 1e-6))
        latent_dataset = TensorDataset(latents * vae.config.scaling_factor, *train_dataset.tensors)
    logger.info(f"  Latent std = {standard_deviation:.4f}; scaling_factor = {vae.config.scaling_factor:.4f}")
    validation_latent_dataset = None
    if validation_dataset is not None:
        validation_latents = encode_latents(accelerator, vae, validation_dataset)
        validation_latent_dataset = TensorDataset(
            validation_latents * vae.config.scaling_factor, *validation_dataset.tensors
        )

    # 4. stage 2: the denoiser on frozen-VAE latents
    scheduler = DDPMScheduler(
        num_train_timesteps=args.num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=False,
        prediction_type=args.prediction_type,
    )
    torch.manual_seed(args.seed + 1)
    denoiser = TimeAutoDiffDenoiser(
        latent_dim=latent_dim,
        column_kinds=processor.column_kinds_fitted,
        category_sizes=processor.category_sizes,
        num_time_features=processor.num_time_features,
        hidden_size=args.denoiser_hidden_size,
        num_layers=args.denoiser_layers,
        num_heads=args.num_heads,
    )
    elapsed = time.monotonic() - started
    denoiser_budget = None if budget_seconds is None else max(0.0, budget_seconds - elapsed)
    denoiser, ema = train_denoiser(
        accelerator,
        args,
        denoiser,
        scheduler,
        processor,
        latent_dataset,
        validation_latent_dataset,
        denoiser_budget,
        resume_path if resume_stage == "denoiser" else None,
    )

    # 5. save: EMA weights into the denoiser, pipeline folder, training_args.json, model card
    denoiser = accelerator.unwrap_model(denoiser)
    if ema is not None:
        ema.copy_to(denoiser.parameters())
    pipeline = TimeAutoDiffPipeline(
        vae=accelerator.unwrap_model(vae), denoiser=denoiser, scheduler=scheduler, processor=processor
    )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        calibrate_forecasts(pipeline, validation_table, args, history=train_table)
        num_windows = train_dataset.windows_per_pass if args.streaming else len(train_dataset)
        write_training_args(
            args, output_dir, time.monotonic() - started, num_windows, accelerator.device, accelerator.num_processes
        )
        try:
            save_with_card(pipeline, output_dir)
        except OSError as error:
            previous = (list_checkpoints(output_dir) or [None])[-1]
            kept = f"; the last checkpoint {previous.name!r} is intact" if previous else ""
            raise OSError(
                error.errno,
                f"Could not save the trained model to {str(output_dir)!r} ({error.strerror or error}){kept}. Free "
                "disk space or choose another --output_dir (with --resume_from_checkpoint to continue).",
            ) from error
        if args.push_to_hub:
            push_folder_to_hub(
                output_dir, args.hub_model_id, private=args.hub_private, commit_message="Upload TimeAutoDiff model"
            )
    accelerator.end_training()
    logger.info(f"Saved the pipeline to {output_dir} in {time.monotonic() - started:.1f} s")
    return pipeline


def prepare_in_memory_windows(args: argparse.Namespace):
    """
    Read the whole table, fit the processor on its training period and cut training/validation windows. Returns
    `(processor, train_dataset, validation_dataset, train_table, validation_table, num_rows)`.
    """
    table = load_training_table(args)
    processor = build_processor(args).fit(table)
    if args.validation_fraction > 0:
        train_table, validation_table = processor.split(table, args.validation_fraction, by="time")
    else:
        train_table, validation_table = table, None
    full_processor = processor
    processor = build_processor(args).fit(train_table)
    if validation_table is not None:
        # Scalers see only the training period, but what describes the whole table comes from all of it: the
        # entity lengths (for `sequence_length="data"`), the time span, and categories seen only in the held-out end.
        for key in ("entity_lengths", "start", "end"):
            if key in full_processor.time_info:
                processor.time_info[key] = full_processor.time_info[key]
        for column, full_column in zip(processor.columns, full_processor.columns):
            if column["kind"] == full_column["kind"] and "categories" in full_column:
                if "transition_counts" in column:
                    column["transition_counts"] = reindex_transition_counts(
                        column["transition_counts"], column["categories"], full_column["categories"]
                    )
                column["categories"] = full_column["categories"]
    train_windows = processor.encode(train_table)
    validation_windows = None
    if validation_table is not None and len(validation_table):
        try:
            validation_windows = processor.encode(validation_table, stride=max(1, args.sequence_length // 2))
        except ValueError as error:
            logger.warning(f"No validation windows ({error}); validation loss is disabled.")
    train_dataset = window_tensors(train_windows)
    validation_dataset = window_tensors(validation_windows) if validation_windows is not None else None
    return processor, train_dataset, validation_dataset, train_table, validation_table, len(table)


def calibrate_forecasts(
    pipeline: TimeAutoDiffPipeline, validation_table, args: argparse.Namespace, history=None
) -> None:
    """Fit the forecast combination with a naive baseline on the validation period, with the training period
    before it (`history`) as the early origins' history (skipped, with a log line, when it is disabled or there is no
    period long enough)."""
    if not args.forecast_calibration_origins:
        return
    if validation_table is None:
        logger.info("Forecasts are not calibrated: no validation period (--streaming or --validation_fraction 0).")
        return
    started = time.monotonic()
    progress_bar_config = dict(getattr(pipeline, "_progress_bar_config", {}))
    pipeline.set_progress_bar_config(disable=True)
    # The backtest samples with DPM-Solver++ 20 steps (2.5x cheaper than the default DDPM 50; the weights compare
    # the model's error with the baseline's, which the sampler barely changes); the saved scheduler is unchanged.
    saved_scheduler = pipeline.scheduler
    pipeline.scheduler = DPMSolverMultistepScheduler.from_config(saved_scheduler.config)
    try:
        calibration = pipeline.calibrate_forecasts(
            validation_table,
            num_origins=args.forecast_calibration_origins,
            num_samples=2,
            num_inference_steps=20,
            generator=torch.Generator().manual_seed(args.seed),
            history=history,
        )
    except ValueError as error:
        logger.warning(f"Forecasts are not calibrated: {error}")
        return
    finally:
        pipeline.scheduler = saved_scheduler
        pipeline._progress_bar_config = progress_bar_config
    summary = ", ".join(
        f"{name} {setting['baseline']} {setting['model_mae']:.3g} -> {setting['combined_mae']:.3g}"
        for name, setting in calibration["columns"].items()
        if setting["combined_mae"] is not None
    )
    logger.info(
        f"Forecast calibration on {calibration['num_origins']} validation origins in {time.monotonic() - started:.1f} "
        f"s (MAE model -> combined): {summary}"
    )


class EncodedStream:
    """Streamed windows whose latents are computed on the fly by the frozen VAE (they are never all stored)."""

    def __init__(self, windows: StreamingWindows, vae: TimeAutoDiffVAE):
        self.windows = windows
        self.vae = vae


WINDOW_KEYS = ("values", "observed_mask", "time_features", "step_mask")


def streamed_batches(source, args, accelerator: Accelerator, start_step: int):
    """
    This process's share of the streamed global batches, from batch `start_step` on (a resumed run re-reads the
    stream up to where it stopped, so it sees exactly the batches an uninterrupted run would).
    """
    windows = source.windows if isinstance(source, EncodedStream) else source
    global_size = args.batch_size * accelerator.num_processes
    for index, batch in enumerate(windows.global_batches(global_size, args.shuffle_buffer, args.seed)):
        if index < start_step:
            continue
        tensors = [local_part(torch.from_numpy(batch[key]), accelerator).to(accelerator.device) for key in WINDOW_KEYS]
        if isinstance(source, EncodedStream):
            with torch.no_grad():
                latents = source.vae.encode(tensors[0], tensors[1]).latent_mean
            tensors.insert(0, latents * source.vae.config.scaling_factor)
        yield tuple(tensors)


@torch.no_grad()
def encode_latents_streamed(accelerator, vae, windows: StreamingWindows, args, max_windows: int = 20_000):
    """Latent means of the first `max_windows` shuffled windows (enough to fit the latent scaling factor)."""
    model = accelerator.unwrap_model(vae)
    model.eval()
    chunks, count = [], 0
    for batch in windows.global_batches(1024, args.shuffle_buffer, args.seed):
        values = torch.from_numpy(batch["values"]).to(accelerator.device)
        observed_mask = torch.from_numpy(batch["observed_mask"]).to(accelerator.device)
        chunks.append(model.encode(values, observed_mask).latent_mean.float().cpu())
        count += len(values)
        if count >= min(max_windows, windows.windows_per_pass or max_windows):
            break
    return torch.cat(chunks)


def infinite_batches(loader: DataLoader, start_step: int, accelerator: Accelerator):
    """Yield batches forever, epoch after epoch, in an order fixed by the seed and the epoch (resumable)."""
    steps_per_epoch = max(1, len(loader))
    epoch, skip = divmod(start_step, steps_per_epoch)
    while True:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        iterator = accelerator.skip_first_batches(loader, skip) if skip else loader
        yield from iterator
        epoch, skip = epoch + 1, 0


def make_loader(dataset: TensorDataset, args, accelerator: Accelerator) -> DataLoader:
    generator = torch.Generator().manual_seed(args.seed)
    return DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= args.batch_size * accelerator.num_processes,
        generator=generator,
        num_workers=args.dataloader_num_workers,
    )


def train_vae(accelerator, args, vae, dataset, validation_dataset, budget_seconds, resume_path, skip):
    learning_rate = args.learning_rate if args.vae_learning_rate is None else args.vae_learning_rate
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=args.weight_decay)
    if args.streaming:
        vae, optimizer = accelerator.prepare(vae, optimizer)
    else:
        loader = make_loader(dataset, args, accelerator)
        vae, optimizer, loader = accelerator.prepare(vae, optimizer, loader)
    # Registered in every run (also when skipped) so that checkpoints hold the same objects in the same order.
    noise_generator = torch.Generator().manual_seed(args.seed + 1000)
    accelerator.register_for_checkpointing(GeneratorState(noise_generator))
    if skip:
        # A denoiser checkpoint holds the finished VAE as its first model; the full state is loaded later.
        from safetensors.torch import load_file

        model = accelerator.unwrap_model(vae)
        try:
            check_weights_present(model, resume_path / "model.safetensors")
            model.load_state_dict(load_file(str(resume_path / "model.safetensors")), strict=False)
        except Exception as error:
            raise ValueError(f"Checkpoint {str(resume_path)!r} is corrupt or incomplete: {error}") from error
        return vae
    if resume_path is not None:
        load_checkpoint(accelerator, resume_path)
    if args.vae_steps == 0:
        return vae
    start_step = 0 if resume_path is None else int(CHECKPOINT_PATTERN.match(resume_path.name).group(2))
    started = time.monotonic()
    progress = tqdm(
        range(args.vae_steps), initial=start_step, desc="VAE", disable=not accelerator.is_local_main_process
    )
    stopper = EarlyStopping(args.early_stopping_patience)
    latent_dim = accelerator.unwrap_model(vae).config.latent_dim
    vae.train()
    step = start_step
    batches = (
        streamed_batches(dataset, args, accelerator, start_step)
        if args.streaming
        else infinite_batches(loader, start_step, accelerator)
    )
    for step, (values, observed_mask, _, step_mask) in zip(range(start_step + 1, args.vae_steps + 1), batches):
        with accelerator.accumulate(vae):
            global_noise = torch.randn(
                (values.shape[0] * accelerator.num_processes, values.shape[1], latent_dim),
                generator=noise_generator,
            )
            noise = local_part(global_noise, accelerator)
            output = vae(values, observed_mask, noise=noise)
            parts = accelerator.unwrap_model(vae).reconstruction_loss(output.decoded, values, observed_mask, step_mask)
            beta = args.kl_weight * min(1.0, step / max(1.0, args.kl_warmup_fraction * args.vae_steps))
            kl = output.posterior.kl().mean()
            loss = parts["loss"] + beta * kl
            check_finite(loss, "VAE", step)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
        progress.update()
        progress.set_postfix(loss=f"{loss.item():.4f}")
        accelerator.log(
            {
                "vae/loss": loss.item(),
                "vae/kl": kl.item(),
                **{f"vae/{k}": v.item() for k, v in parts.items() if k != "loss"},
            },
            step=step,
        )
        if args.checkpointing_steps and step % args.checkpointing_steps == 0 and step < args.vae_steps:
            save_checkpoint(accelerator, args, "vae", step, {})
        if validation_dataset is not None and step % args.validation_steps == 0:
            validation_loss = vae_validation_loss(accelerator, vae, validation_dataset, args)
            accelerator.log({"vae/validation_loss": validation_loss}, step=step)
            vae.train()
            if stopper.should_stop(validation_loss, "VAE", step):
                break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            logger.info(f"VAE time budget reached at step {step}.")
            break
    progress.close()
    if args.checkpointing_steps:
        save_checkpoint(accelerator, args, "vae", args.vae_steps, {"finished": True})
    return vae


@torch.no_grad()
def vae_validation_loss(accelerator, vae, dataset, args) -> float:
    model = accelerator.unwrap_model(vae)
    model.eval()
    losses = []
    for start in range(0, len(dataset), 512):
        values, observed_mask, _, step_mask = (
            tensor[start : start + 512].to(accelerator.device) for tensor in dataset.tensors
        )
        output = model(values, observed_mask, sample_posterior=False)
        losses.append(model.reconstruction_loss(output.decoded, values, observed_mask, step_mask)["loss"].item())
    return float(np.mean(losses))


@torch.no_grad()
def encode_latents(accelerator, vae, dataset: TensorDataset) -> torch.Tensor:
    model = accelerator.unwrap_model(vae)
    model.eval()
    chunks = []
    for start in range(0, len(dataset), 1024):
        values, observed_mask = (tensor[start : start + 1024].to(accelerator.device) for tensor in dataset.tensors[:2])
        chunks.append(model.encode(values, observed_mask).latent_mean.float().cpu())
    return torch.cat(chunks)


def local_part(tensor: torch.Tensor, accelerator: Accelerator | None) -> torch.Tensor:
    """This process's slice of a tensor drawn for the global batch (all processes draw the same numbers)."""
    if accelerator is None or accelerator.num_processes == 1:
        return tensor
    size = tensor.shape[0] // accelerator.num_processes
    return tensor[accelerator.process_index * size : (accelerator.process_index + 1) * size]


def denoiser_loss(
    denoiser,
    scheduler,
    processor,
    latents,
    values,
    observed_mask,
    time_features,
    generator,
    condition_dropout: float,
    accelerator: Accelerator | None = None,
    snr_gamma: float | None = None,
) -> torch.Tensor:
    """
    Denoising loss (noise or velocity, as the scheduler predicts) under a random task mask (TimeAutoDiff's single
    masked objective), with Min-SNR weights when `snr_gamma` is set.

    Every random number (masks, condition dropout, noise, timesteps) is drawn for the global batch of all processes
    from one generator and sliced, so N processes with batch B train exactly like one process with batch N * B.
    """
    batch_size, length, num_columns = observed_mask.shape
    global_size = batch_size * (1 if accelerator is None else accelerator.num_processes)
    all_observed = torch.ones(global_size, length, num_columns)
    keep = sample_condition_mask(
        all_observed, processor.metadata_indices, generator, static_indices=processor.static_indices
    )
    condition_mask = local_part(keep, accelerator).to(latents.device) * observed_mask
    dropout_draw = local_part(torch.rand(global_size, 1, 1, generator=generator), accelerator)
    if condition_dropout > 0:
        condition_mask = condition_mask * (dropout_draw >= condition_dropout).to(latents)
    noise = local_part(torch.randn((global_size, *latents.shape[1:]), generator=generator), accelerator).to(latents)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (global_size,), generator=generator)
    timesteps = local_part(timesteps, accelerator).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    target = (
        noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(latents, noise, timesteps)
    )
    prediction = denoiser(noisy, timesteps, time_features, values * condition_mask, condition_mask).sample
    if not snr_gamma:
        return torch.nn.functional.mse_loss(prediction.float(), target.float())
    per_example = torch.nn.functional.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2))
    return (per_example * min_snr_weights(scheduler, timesteps, snr_gamma)).mean()


def min_snr_weights(scheduler, timesteps: torch.Tensor, snr_gamma: float) -> torch.Tensor:
    """
    Min-SNR-gamma loss weights (Hang et al. 2023): `min(SNR, gamma) / SNR` for noise prediction, `/ (SNR + 1)` for
    v-prediction. Nearly noise-free timesteps have a huge SNR and, unweighted, their gradients conflict with and
    outweigh those of the noisier steps that decide what a sample looks like; capping their weight balances them.
    """
    snr = compute_snr(scheduler, timesteps)
    return torch.clamp(snr, max=snr_gamma) / (snr if scheduler.config.prediction_type == "epsilon" else snr + 1)


def train_denoiser(
    accelerator, args, denoiser, scheduler, processor, dataset, validation_dataset, budget_seconds, resume_path
):
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    # The schedule counts optimiser steps, so it is not handed to `prepare` (which would step it once per process).
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(args.denoiser_steps))
    if args.streaming:
        denoiser, optimizer = accelerator.prepare(denoiser, optimizer)
    else:
        loader = make_loader(dataset, args, accelerator)
        denoiser, optimizer, loader = accelerator.prepare(denoiser, optimizer, loader)
    accelerator.register_for_checkpointing(lr_scheduler)
    ema = None
    if args.ema_decay > 0:
        ema = EMAModel(accelerator.unwrap_model(denoiser).parameters(), decay=args.ema_decay, use_ema_warmup=True)
        ema.to(accelerator.device)
        accelerator.register_for_checkpointing(ema)
    noise_generator = torch.Generator().manual_seed(args.seed + 7)
    accelerator.register_for_checkpointing(GeneratorState(noise_generator))
    start_step = 0
    if resume_path is not None:
        check_same_objective(args, resume_path)
        load_checkpoint(accelerator, resume_path)
        start_step = int(CHECKPOINT_PATTERN.match(resume_path.name).group(2))
    if args.denoiser_steps == 0:
        return denoiser, ema
    started = time.monotonic()
    progress = tqdm(
        range(args.denoiser_steps), initial=start_step, desc="Denoiser", disable=not accelerator.is_local_main_process
    )
    stopper = EarlyStopping(args.early_stopping_patience)
    denoiser.train()
    batches = (
        streamed_batches(dataset, args, accelerator, start_step)
        if args.streaming
        else infinite_batches(loader, start_step, accelerator)
    )
    for step, (latents, values, observed_mask, time_features, _) in zip(
        range(start_step + 1, args.denoiser_steps + 1), batches
    ):
        with accelerator.accumulate(denoiser):
            loss = denoiser_loss(
                denoiser,
                scheduler,
                processor,
                latents,
                values,
                observed_mask,
                time_features,
                noise_generator,
                args.condition_dropout,
                accelerator,
                args.snr_gamma,
            )
            check_finite(loss, "denoiser", step)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(denoiser.parameters(), 1.0)
            optimizer.step()
            if accelerator.sync_gradients:
                lr_scheduler.step()
            optimizer.zero_grad()
        if accelerator.sync_gradients and ema is not None:
            ema.step(accelerator.unwrap_model(denoiser).parameters())
        progress.update()
        progress.set_postfix(loss=f"{loss.item():.4f}")
        accelerator.log({"denoiser/loss": loss.item(), "denoiser/lr": lr_scheduler.get_last_lr()[0]}, step=step)
        if args.checkpointing_steps and step % args.checkpointing_steps == 0 and step < args.denoiser_steps:
            save_checkpoint(accelerator, args, "denoiser", step, denoiser_objective(args))
        if validation_dataset is not None and step % args.validation_steps == 0:
            validation_loss = denoiser_validation_loss(
                accelerator, denoiser, ema, scheduler, processor, validation_dataset, args
            )
            accelerator.log({"denoiser/validation_loss": validation_loss}, step=step)
            if stopper.should_stop(validation_loss, "Denoiser", step):
                break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            logger.info(f"Denoiser time budget reached at step {step}.")
            break
    progress.close()
    return denoiser, ema


def denoiser_objective(args: argparse.Namespace) -> dict:
    """What the denoiser is trained to predict and how timesteps are weighted (recorded in its checkpoints)."""
    return {"prediction_type": args.prediction_type, "snr_gamma": args.snr_gamma}


def check_same_objective(args: argparse.Namespace, checkpoint: Path) -> None:
    """Refuse to resume a denoiser under another objective than it was trained with (the defaults changed once)."""
    recorded = json.loads((checkpoint / COMPLETE_MARKER).read_text())
    if "prediction_type" not in recorded:
        logger.warning(
            f"Checkpoint {checkpoint.name!r} does not record its objective (written before --snr_gamma existed, "
            "when the default was --prediction_type epsilon); resuming with --prediction_type "
            f"{args.prediction_type} --snr_gamma {args.snr_gamma}. Pass the flags it was trained with."
        )
        return
    current = denoiser_objective(args)
    if {key: recorded.get(key) for key in current} != current:
        raise ValueError(
            f"Checkpoint {checkpoint.name!r} was trained with --prediction_type {recorded['prediction_type']} "
            f"--snr_gamma {recorded['snr_gamma']}, this run asks for --prediction_type {current['prediction_type']} "
            f"--snr_gamma {current['snr_gamma']}: pass the checkpoint's flags to resume it."
        )


def warmup_cosine(total_steps: int, warmup_steps: int = 100, floor: float = 0.1):
    """Learning-rate factor: linear warm-up, then cosine decay to `floor` of the base rate."""

    def factor(step: int) -> float:
        warmup = min(1.0, (step + 1) / warmup_steps)
        progress = min(1.0, step / max(1, total_steps))
        return warmup * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return factor


@torch.no_grad()
def denoiser_validation_loss(accelerator, denoiser, ema, scheduler, processor, dataset, args) -> float:
    """Validation loss with fixed noise and masks (same draws at every evaluation), on the EMA weights if any."""
    model = accelerator.unwrap_model(denoiser)
    if ema is not None:
        ema.store(model.parameters())
        ema.copy_to(model.parameters())
    model.eval()
    generator = torch.Generator().manual_seed(12345)
    losses = []
    for start in range(0, min(len(dataset), 2048), 512):
        latents, values, observed_mask, time_features, _ = (
            tensor[start : start + 512].to(accelerator.device) for tensor in dataset.tensors
        )
        losses.append(
            denoiser_loss(
                model, scheduler, processor, latents, values, observed_mask, time_features, generator, 0.0
            ).item()
        )
    if ema is not None:
        ema.restore(model.parameters())
    model.train()
    return float(np.mean(losses))


def check_finite(loss: torch.Tensor, stage: str, step: int) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"The {stage} loss became {loss.item()} at step {step}. Lower --learning_rate, check the data for extreme "
            "values, or resume from the last checkpoint."
        )


def write_training_args(
    args: argparse.Namespace,
    output_dir: Path,
    seconds: float,
    num_windows: int,
    device: torch.device,
    num_processes: int,
) -> None:
    """Record the flags, wall time, hardware and library versions of a run, so its timing can be compared."""
    import accelerate
    import diffusers
    import transformers

    from . import __version__

    record = {
        "args": vars(args),
        "train_seconds": round(seconds, 2),
        "num_training_windows": num_windows,
        # the hardware the wall time was measured on
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "num_processes": num_processes,
        "versions": {
            "timeautodiff_hf": __version__,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "accelerate": accelerate.__version__,
            "python": platform.python_version(),
        },
    }
    (output_dir / "training_args.json").write_text(json.dumps(record, indent=2, default=str))
