"""The `timeautodiff` command line on a tiny trained model: every verb, its files, and its error messages."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from timeautodiff_hf.cli import main

try:
    from .tiny_model import make_tiny_table, train_tiny_pipeline
except ImportError:
    from tiny_model import make_tiny_table, train_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_tiny_pipeline(tmp_path_factory.mktemp("cli"))


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for command in ("train", "generate", "impute", "forecast", "evaluate", "card", "push"):
        assert command in text
    assert main(["train", "--help"]) == 0
    assert "--resume_from_checkpoint" in capsys.readouterr().out


def test_generate_writes_csv_and_plot(model_dir, tmp_path, capsys):
    output = tmp_path / "synthetic.csv"
    code = main(
        [
            "generate",
            "--model",
            str(model_dir),
            "--num-sequences",
            "3",
            "--num-inference-steps",
            "3",
            "--scheduler",
            "dpm",
            "--output",
            str(output),
            "--plot",
            str(tmp_path / "synthetic.png"),
        ]
    )
    assert code == 0
    frame = pd.read_csv(output)
    assert len(frame) == 3 * 8 and set(frame["mode"]) <= {"a", "b", "c"}
    assert (tmp_path / "synthetic.png").stat().st_size > 1000


@pytest.mark.parametrize("scheduler", ["ddpm", "sde-dpm"])
def test_same_seed_gives_the_same_file(model_dir, tmp_path, scheduler):
    """Both stochastic samplers draw their noise from the seeded generator: same seed, same file; another seed
    gives other values."""
    for name, seed in (("a.csv", "5"), ("b.csv", "5"), ("c.csv", "6")):
        main(
            [
                "generate",
                "--model",
                str(model_dir),
                "--num-sequences",
                "2",
                "--num-inference-steps",
                "3",
                "--scheduler",
                scheduler,
                "--seed",
                seed,
                "--output",
                str(tmp_path / name),
            ]
        )
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "a.csv").read_text() != (tmp_path / "c.csv").read_text()


def test_impute_fills_missing_cells_and_keeps_the_rest(model_dir, tmp_path):
    table = make_tiny_table(num_steps=20, seed=1)
    table.loc[::4, "temperature"] = np.nan
    table.to_csv(tmp_path / "gaps.csv", index=False)
    assert (
        main(
            [
                "impute",
                "--model",
                str(model_dir),
                "--input",
                str(tmp_path / "gaps.csv"),
                "--num-inference-steps",
                "2",
                "--output",
                str(tmp_path / "filled.parquet"),
            ]
        )
        == 0
    )
    filled = pd.read_parquet(tmp_path / "filled.parquet")
    assert not filled["temperature"].isna().any()
    observed = table["temperature"].notna()
    assert np.array_equal(filled.loc[observed, "temperature"], table.loc[observed, "temperature"])


def test_forecast_writes_horizon_rows_per_entity_and_sample(model_dir, tmp_path):
    make_tiny_table(num_steps=20, seed=2).to_csv(tmp_path / "history.csv", index=False)
    assert (
        main(
            [
                "forecast",
                "--model",
                str(model_dir),
                "--input",
                str(tmp_path / "history.csv"),
                "--horizon",
                "5",
                "--num-samples",
                "3",
                "--num-inference-steps",
                "2",
                "--output",
                str(tmp_path / "forecast.csv"),
                "--plot",
                str(tmp_path / "forecast.png"),
            ]
        )
        == 0
    )
    forecast = pd.read_csv(tmp_path / "forecast.csv")
    assert len(forecast) == 5 * 2 * 3 and set(forecast["sample"]) == {0, 1, 2}
    assert (tmp_path / "forecast.png").stat().st_size > 1000


def test_evaluate_writes_report_plots_and_updates_the_card(model_dir, tmp_path, capsys):
    real = make_tiny_table(num_steps=40, seed=3)
    real.to_csv(tmp_path / "real.csv", index=False)
    make_tiny_table(seed=0).to_csv(tmp_path / "train.csv", index=False)
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model_dir),
                "--data",
                str(tmp_path / "real.csv"),
                "--train-data",
                str(tmp_path / "train.csv"),
                "--quick",
                "--num-inference-steps",
                "2",
                "--output-dir",
                str(tmp_path / "report"),
                "--update-card",
                "--forecast-horizon",
                "4",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    summary = report["summary"]
    assert 0 <= summary["discriminative_score"] <= 0.5 and summary["dcr_share_closer_to_train"] is not None
    for name in ("marginals", "autocorrelation", "sequences", "embedding"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 1000
    forecast = json.loads((tmp_path / "report" / "forecast_report.json").read_text())
    assert forecast["horizon"] == 4 and forecast["crps_scaled"] >= 0 and set(forecast["mae_original"]) == {"load"}
    assert (tmp_path / "report" / "forecast.png").stat().st_size > 1000
    assert summary.keys() >= {"discriminative_score", "discriminative_score_held_out_blocks"}
    assert report["protocol"]["held_out_blocks"]  # scored on held-out time blocks, or why not
    card = (model_dir / "README.md").read_text()
    assert "discriminative_score" in card


def test_card_command_renders_the_model_card(model_dir, tmp_path):
    (model_dir / "README.md").unlink()
    assert main(["card", str(model_dir)]) == 0
    card = (model_dir / "README.md").read_text()
    assert "TimeAutoDiff" in card
    # the run's wall time and device come from training_args.json
    assert re.search(r"Training took \d+ s on cpu\.", card)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--model", "/nonexistent/model/dir", "--output", "x.csv"], "neither a local pipeline folder"),
        (["card", "/tmp"], "not a saved TimeAutoDiff model folder"),
    ],
)
def test_when_cli_input_is_wrong_then_exit_code_2_and_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_when_output_suffix_unsupported_then_clear_error(model_dir, tmp_path, capsys):
    code = main(
        [
            "generate",
            "--model",
            str(model_dir),
            "--num-sequences",
            "1",
            "--num-inference-steps",
            "1",
            "--output",
            str(tmp_path / "out.xlsx"),
        ]
    )
    assert code == 2 and ".csv, .parquet" in capsys.readouterr().err


def test_when_impute_input_lacks_a_column_then_error_names_it(model_dir, tmp_path, capsys):
    make_tiny_table(num_steps=10).drop(columns=["mode"]).to_csv(tmp_path / "partial.csv", index=False)
    code = main(
        [
            "impute",
            "--model",
            str(model_dir),
            "--input",
            str(tmp_path / "partial.csv"),
            "--output",
            str(tmp_path / "o.csv"),
        ]
    )
    assert code == 2 and "mode" in capsys.readouterr().err
