"""The `timeautodiff` command line: train, generate, impute, forecast, evaluate, card, push."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DESCRIPTION = """TimeAutoDiff for heterogeneous time-series tables.

commands:
  train      train a model on a CSV/Parquet/JSON table or a Hub dataset (same flags as training/train_timeautodiff.py)
  generate   synthetic sequences (optionally following a metadata scenario) -> CSV/Parquet
  impute     fill the missing cells of a table -> CSV/Parquet (observed cells unchanged)
  forecast   probabilistic forecast of the next steps of each entity -> CSV/Parquet
  evaluate   fidelity / privacy report (JSON + PNG plots) of a model against real data
  card       render or refresh the model card (README.md) of a saved model
  push       upload a saved model and its card to the Hugging Face Hub in one commit

Run `timeautodiff COMMAND --help` for the flags of a command."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Saved model folder or Hub repo id ('org/name').")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of --model.")
    parser.add_argument(
        "--num-inference-steps", "--num_inference_steps", type=int, default=50, help="Denoising steps."
    )
    parser.add_argument(
        "--scheduler",
        choices=["ddpm", "ddim", "dpm", "sde-dpm"],
        default="ddpm",
        help=(
            "Sampler: ddpm (as trained), ddim, dpm (DPM-Solver++, 10-20 steps) or sde-dpm (stochastic DPM-Solver++: "
            "10 steps keep the fidelity of DDPM 100 on bike sharing and ETTh1; the fastest good choice)."
        ),
    )
    parser.add_argument(
        "--guidance-scale",
        "--guidance_scale",
        type=float,
        default=1.0,
        help="Classifier-free guidance weight (1 = off).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, same output).")
    parser.add_argument("--batch-size", "--batch_size", type=int, default=512, help="Windows denoised at once.")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cuda if available).")


def add_input_arguments(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    parser.add_argument(name, required=True, help=help_text)
    parser.add_argument(
        "--na-values",
        "--na_values",
        default=None,
        help="Comma list of strings that mean missing in CSV input (disables pandas' default list, "
        "e.g. so that the string 'None' stays a value).",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timeautodiff", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("train", help="train a model (see `timeautodiff train --help`)", add_help=False)

    generate = commands.add_parser("generate", help="generate synthetic sequences")
    add_model_arguments(generate)
    generate.add_argument("--num-sequences", "--num_sequences", type=int, default=100, help="Sequences to generate.")
    generate.add_argument(
        "--sequence-length",
        "--sequence_length",
        type=int,
        default=None,
        help="Steps per sequence (default: the training window; longer ones are stitched).",
    )
    generate.add_argument("--start", default=None, help="First timestamp of every sequence (default: random).")
    generate.add_argument(
        "--metadata", default=None, help="CSV/Parquet scenario of metadata columns; every sequence follows it."
    )
    generate.add_argument(
        "--missing",
        choices=["as_data", "none"],
        default="as_data",
        help="Reproduce the training data's missing cells, or return complete data.",
    )
    generate.add_argument("--output", required=True, help="Output .csv or .parquet file.")
    generate.add_argument("--plot", default=None, help="Optional PNG comparing a few generated sequences.")

    impute = commands.add_parser("impute", help="fill missing cells")
    add_model_arguments(impute)
    add_input_arguments(impute, "--input", "Table with missing cells (CSV/Parquet/JSON).")
    impute.add_argument(
        "--missing-values", "--missing_values", default=None, help="Extra sentinels meaning missing: name=-200,..."
    )
    impute.add_argument(
        "--num-samples",
        "--num_samples",
        type=int,
        default=1,
        help="Draws; with more than one, all draws are written with a `sample` column.",
    )
    impute.add_argument("--output", required=True, help="Output .csv or .parquet file.")

    forecast = commands.add_parser("forecast", help="forecast the next steps of each entity")
    add_model_arguments(forecast)
    add_input_arguments(forecast, "--input", "History table (CSV/Parquet/JSON).")
    forecast.add_argument("--horizon", type=int, required=True, help="Steps to forecast per entity.")
    forecast.add_argument(
        "--metadata-future",
        "--metadata_future",
        default=None,
        help="Known future metadata: `horizon` rows per entity.",
    )
    forecast.add_argument("--num-samples", "--num_samples", type=int, default=20, help="Sample paths per entity.")
    forecast.add_argument("--output", required=True, help="Output .csv or .parquet file.")
    forecast.add_argument("--plot", default=None, help="Optional PNG of the forecast of the first entity.")

    evaluate = commands.add_parser("evaluate", help="evaluate generation fidelity and privacy")
    add_model_arguments(evaluate)
    add_input_arguments(evaluate, "--data", "Real table to compare with (ideally held out from training).")
    evaluate.add_argument(
        "--train-data",
        "--train_data",
        default=None,
        help="The training table, for the distance-to-closest-record privacy audit.",
    )
    evaluate.add_argument(
        "--num-sequences",
        "--num_sequences",
        type=int,
        default=None,
        help="Synthetic windows (default: as many as real windows, at most 3000).",
    )
    evaluate.add_argument("--quick", action="store_true", help="Smaller budgets (a minute on 2 CPU cores).")
    evaluate.add_argument(
        "--forecast-horizon",
        "--forecast_horizon",
        type=int,
        default=None,
        help="Also hold out the last H steps of each entity of --data and score forecasts (MAE, "
        "MSE, CRPS) with a forecast plot.",
    )
    evaluate.add_argument("--output-dir", "--output_dir", required=True, help="Where report.json and PNGs go.")
    evaluate.add_argument(
        "--update-card",
        "--update_card",
        action="store_true",
        help="Also store the report in a local --model folder and refresh its card.",
    )

    card = commands.add_parser("card", help="render or refresh the model card of a saved model")
    card.add_argument("path", help="Saved model folder.")
    card.add_argument("--eval-report", "--eval_report", default=None, help="Evaluation report JSON to include.")

    push = commands.add_parser("push", help="upload a saved model to the Hub")
    push.add_argument("path", help="Saved model folder.")
    push.add_argument("--repo-id", "--repo_id", required=True, help="Target repo 'org/name'.")
    push.add_argument("--private", action="store_true", help="Create the repo as private.")
    push.add_argument("--revision", default=None, help="Branch to commit to.")
    push.add_argument(
        "--commit-message", "--commit_message", default="Upload TimeAutoDiff pipeline", help="Commit message."
    )
    return parser


def load_pipeline(args: argparse.Namespace):
    import torch
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    from .pipeline_timeautodiff import TimeAutoDiffPipeline

    pipe = TimeAutoDiffPipeline.from_pretrained(args.model, revision=args.revision)
    if args.scheduler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    elif args.scheduler == "dpm":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    elif args.scheduler == "sde-dpm":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(
            pipe.scheduler.config, algorithm_type="sde-dpmsolver++"
        )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return pipe.to(device)


def read_input(path: str, na_values: str | None):
    from .table_io import read_table_file

    options = {}
    if na_values is not None and str(path).lower().endswith((".csv", ".csv.gz", ".tsv")):
        options = {"keep_default_na": False, "na_values": na_values.split(",")}
    return read_table_file(path, argument_name=path, **options)


def generator_for(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def command_generate(args: argparse.Namespace) -> None:
    from .table_io import read_table_file, write_table

    pipe = load_pipeline(args)
    metadata = read_table_file(args.metadata, argument_name="--metadata") if args.metadata else None
    frames = pipe.generate(
        num_sequences=args.num_sequences,
        metadata=metadata,
        sequence_length=args.sequence_length,
        start=args.start,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        generator=generator_for(args.seed),
        missing=args.missing,
        batch_size=args.batch_size,
    )
    write_table(frames, args.output)
    if args.plot:
        from .plotting import plot_generated_sequences

        plot_generated_sequences(frames, pipe.processor, args.plot)
    print(f"Wrote {len(frames)} rows ({args.num_sequences} sequences) to {args.output}")


def command_impute(args: argparse.Namespace) -> None:
    from .table_io import write_table
    from .trainer import parse_mapping, parse_sentinel

    pipe = load_pipeline(args)
    table = read_input(args.input, args.na_values)
    for name, sentinel in parse_mapping(args.missing_values, "missing_values").items():
        if name not in table.columns:
            raise ValueError(f"--missing-values names column {name!r}, which is not in {args.input}.")
        table[name] = table[name].mask(table[name] == parse_sentinel(sentinel))
    result = pipe.impute(
        table,
        num_samples=args.num_samples,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        generator=generator_for(args.seed),
        batch_size=args.batch_size,
    )
    write_table(result, args.output)
    print(f"Filled {int(table.isna().sum().sum())} missing cells; wrote {len(result)} rows to {args.output}")


def command_forecast(args: argparse.Namespace) -> None:
    from .table_io import read_table_file, write_table

    pipe = load_pipeline(args)
    history = read_input(args.input, args.na_values)
    future = read_table_file(args.metadata_future, argument_name="--metadata-future") if args.metadata_future else None
    result = pipe.forecast(
        history,
        horizon=args.horizon,
        metadata_future=future,
        num_samples=args.num_samples,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        generator=generator_for(args.seed),
        batch_size=args.batch_size,
    )
    write_table(result, args.output)
    if args.plot:
        from .plotting import plot_forecast_fan

        plot_forecast_fan(history, result, pipe.processor, args.plot)
    print(f"Wrote {len(result)} forecast rows to {args.output}")


def command_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_pipeline

    pipe = load_pipeline(args)
    data = read_input(args.data, args.na_values)
    train_data = read_input(args.train_data, args.na_values) if args.train_data else None
    report = evaluate_pipeline(
        pipe,
        data,
        train_table=train_data,
        output_dir=args.output_dir,
        num_sequences=args.num_sequences,
        quick=args.quick,
        seed=args.seed,
        num_inference_steps=args.num_inference_steps,
    )
    if args.forecast_horizon:
        from .evaluation import evaluate_forecast

        forecast_report = evaluate_forecast(
            pipe,
            data,
            horizon=args.forecast_horizon,
            output_dir=args.output_dir,
            seed=args.seed,
            num_inference_steps=args.num_inference_steps,
        )
        report["forecast"] = forecast_report
        report["summary"]["forecast_mae"] = forecast_report["mae_scaled"]
        report["summary"]["forecast_crps"] = forecast_report["crps_scaled"]
    if args.update_card:
        model_dir = Path(args.model)
        if not model_dir.is_dir():
            raise ValueError("--update-card needs --model to be a local folder.")
        (model_dir / "evaluation_report.json").write_text(json.dumps(report, indent=2, default=float))
        refresh_card(model_dir, model_dir / "evaluation_report.json")
    print(json.dumps(report.get("summary", {}), indent=2, default=float))
    print(f"Report and plots in {args.output_dir}")


def refresh_card(model_dir: Path, report_path: Path | None, repo_id: str | None = None) -> Path:
    from .hub import flatten_report, save_with_card
    from .pipeline_timeautodiff import TimeAutoDiffPipeline

    pipe = TimeAutoDiffPipeline.from_pretrained(model_dir)
    eval_results = flatten_report(json.loads(Path(report_path).read_text())) if report_path else None
    if report_path and Path(report_path).resolve() != (model_dir / "evaluation_report.json").resolve():
        (model_dir / "evaluation_report.json").write_text(Path(report_path).read_text())
    save_with_card(pipe, model_dir, eval_results=eval_results, repo_id=repo_id)
    return model_dir / "README.md"


def command_card(args: argparse.Namespace) -> None:
    model_dir = Path(args.path)
    if not (model_dir / "model_index.json").is_file():
        raise ValueError(f"{args.path!r} is not a saved TimeAutoDiff model folder (no model_index.json).")
    report = args.eval_report or (
        model_dir / "evaluation_report.json" if (model_dir / "evaluation_report.json").is_file() else None
    )
    path = refresh_card(model_dir, report)
    print(f"Wrote {path}")


def command_push(args: argparse.Namespace) -> None:
    from .hub import push_folder_to_hub

    model_dir = Path(args.path)
    if not (model_dir / "model_index.json").is_file():
        raise ValueError(f"{args.path!r} is not a saved TimeAutoDiff model folder (no model_index.json).")
    # The card is rendered for the target repo (its usage snippets load `args.repo_id`).
    report = model_dir / "evaluation_report.json"
    refresh_card(model_dir, report if report.is_file() else None, repo_id=args.repo_id)
    url = push_folder_to_hub(
        model_dir,
        args.repo_id,
        private=args.private or None,
        revision=args.revision,
        commit_message=args.commit_message,
    )
    print(f"Pushed {args.path} to {args.repo_id}: {url}")


COMMANDS = {
    "generate": command_generate,
    "impute": command_impute,
    "forecast": command_forecast,
    "evaluate": command_evaluate,
    "card": command_card,
    "push": command_push,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "train":
        from .trainer import main as train_main
        from .trainer import parse_args

        train_argv = argv[1:]
        if not train_argv or train_argv[0] in ("-h", "--help"):
            from .trainer import build_parser as build_training_parser

            build_training_parser().print_help()
            return 0
        try:
            train_main(parse_args(train_argv))
        except (ValueError, OSError, FloatingPointError) as error:
            print(f"timeautodiff train: error: {error}", file=sys.stderr)
            return 2
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        COMMANDS[args.command](args)
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"timeautodiff {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
