"""Tests of the model card rendering (`timeautodiff_hf.modelcard`) and of its Jinja2 template."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard

from timeautodiff_hf.modelcard import CARD_TAGS, build_model_card, load_template, write_model_card

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED_TEMPLATE = REPO_ROOT / "timeautodiff_hf" / "templates" / "model_card.md"
CANONICAL_COPY = REPO_ROOT / "model_cards" / "template.md"


def make_schema(with_metadata: bool = True) -> dict:
    columns = [
        {"name": "temp", "kind": "continuous", "dtype": "float64", "role": "feature"},
        {"name": "rain", "kind": "binary", "dtype": "bool", "role": "feature", "categories": [False, True]},
        {
            "name": "station_type",
            "kind": "categorical",
            "dtype": "object",
            "role": "static",
            "categories": ["rural", "urban"],
        },
        {
            "name": "weather",
            "kind": "categorical",
            "dtype": "object",
            "role": "metadata" if with_metadata else "feature",
            "categories": [f"code_{index:02d}" for index in range(15)],
        },
    ]
    return {
        "time_column": "date",
        "entity_column": "station",
        "columns": columns,
        "frequency": "h",
        "sequence_length": 24,
        "latent_dim": 8,
    }


EVAL_RESULTS = {
    "discriminative_score": {"mean": 0.125, "std": 0.02, "runs": [0.1, 0.15]},
    "temporal_discriminative_score": 0.2,
    "predictive_score_mae": np.float32(0.5),
    "forecast_crps": 0.75,
    "dcr_share_closer_to_train": 0.51,
    "exact_copies": 0,
    "evaluated_on": "test split",  # non-numeric: ignored
    "passed": True,  # bool: not a metric
    "broken": float("nan"),  # not finite: ignored
}


def front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match is not None, "the card must start with a YAML front matter block"
    return yaml.safe_load(match.group(1))


def test_front_matter_parses_with_library_name_tags_and_model_index():
    card = build_model_card(
        schema=make_schema(),
        eval_results=EVAL_RESULTS,
        repo_id="user/weather-timeautodiff",
        dataset_name="user/weather",
        license="mit",
    )
    metadata = front_matter(str(card))
    assert metadata["library_name"] == "timeautodiff_hf"
    assert metadata["tags"] == CARD_TAGS
    assert metadata["license"] == "mit"
    assert metadata["datasets"] == ["user/weather"]
    (entry,) = metadata["model-index"]
    assert entry["name"] == "weather-timeautodiff"
    (result,) = entry["results"]
    assert result["task"] == {"type": "time-series-generation", "name": "Synthetic time-series generation"}
    assert result["dataset"] == {"name": "user/weather", "type": "user/weather"}


def test_card_round_trips_through_model_card_load(tmp_path):
    path = write_model_card(tmp_path / "saved", schema=make_schema(), eval_results=EVAL_RESULTS, repo_id="user/m")
    assert path == tmp_path / "saved" / "README.md"

    card = ModelCard.load(path)
    assert card.data.library_name == "timeautodiff_hf"
    assert card.data.tags == CARD_TAGS
    assert card.data.license == "other"
    values = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert values == {
        "discriminative_score": 0.125,  # the mean of a nested result
        "temporal_discriminative_score": 0.2,
        "predictive_score_mae": 0.5,
        "forecast_crps": 0.75,
        "dcr_share_closer_to_train": 0.51,
        "exact_copies": 0,
    }
    assert {result.dataset_name for result in card.data.eval_results} == {"custom"}
    assert all(result.task_type == "time-series-generation" for result in card.data.eval_results)
    assert "0.125 ± 0.02" in card.text
    assert "Not evaluated:" not in card.text
    # The DCR audit result is reported in the limitations.
    limitations = card.text.split("## Limitations")[1]
    assert "0.51" in limitations and "Exact copies of training sequences among the samples: 0" in limitations


def test_schema_table_lists_every_column_and_truncates_categories():
    schema = make_schema()
    text = build_model_card(schema=schema).text
    section = text.split("## Schema")[1].split("## Training data")[0]
    for column in schema["columns"]:
        assert f"| `{column['name']}` | {column['kind']} | `{column['dtype']}` | {column['role']} |" in section
    assert "| False, True |" in section
    assert "| rural, urban |" in section
    assert "code_00, code_01" in section and "code_09, … (15 total)" in section
    assert "code_10" not in section
    assert "Time column: `date` (frequency `h`)" in section
    assert "Entity column: `station`" in section


def test_schema_table_marks_calendar_columns_with_their_key():
    schema = make_schema()
    schema["columns"].append(
        {"name": "weekday", "kind": "categorical", "dtype": "int64", "role": "feature", "calendar_key": "day_of_week"}
    )
    section = build_model_card(schema=schema).text.split("## Schema")[1].split("## Training data")[0]
    assert "| `weekday` | categorical | `int64` | feature (follows the timestamp's day of week) |" in section
    assert "follows the timestamp" not in section.split("`weekday`")[0]


def test_without_evaluation_the_card_says_not_evaluated_and_no_privacy_audit():
    card = build_model_card(schema=make_schema())
    assert "Not evaluated: run `timeautodiff evaluate" in card.text
    assert "No privacy audit was run" in card.text
    assert card.data.eval_results is None
    assert "model-index" not in front_matter(str(card))


def test_usage_snippets_use_the_repo_id_and_metadata_snippet_only_with_metadata_columns():
    with_metadata = build_model_card(schema=make_schema(with_metadata=True), repo_id="user/weather").text
    assert 'TimeAutoDiffPipeline.from_pretrained("user/weather")' in with_metadata
    assert "pipe(num_sequences=100, generator=torch.Generator().manual_seed(0)).frames" in with_metadata
    assert "pipe.impute(df_with_nans)" in with_metadata
    assert "pipe.forecast(history_df, horizon=24, num_samples=20" in with_metadata
    assert "timeautodiff generate --model user/weather --num-sequences 100 --output synthetic.csv" in with_metadata
    assert "pipe.generate(num_sequences=10, metadata=scenario_df)" in with_metadata
    assert "(weather)" in with_metadata

    without_metadata = build_model_card(schema=make_schema(with_metadata=False)).text
    assert "pipe.generate(" not in without_metadata
    assert "metadata_future" not in without_metadata
    assert 'from_pretrained("path/to/saved_model")' in without_metadata

    # Every Python snippet at least compiles.
    for snippet in re.findall(r"```python\n(.*?)```", with_metadata, flags=re.DOTALL):
        compile(snippet, "<model card snippet>", "exec")


def test_training_arguments_versions_and_base_info_are_tabulated():
    training_args = {
        "num_epochs": 200,
        "learning_rate": 0.0005,
        "seed": None,  # skipped
        "hidden_sizes": [64, 64],
        "versions": {"torch": "2.13.0", "diffusers": "0.42.1"},
    }
    text = build_model_card(
        schema=make_schema(), training_args=training_args, base_info={"parameters": 12345, "note": "a|b"}
    ).text
    training = text.split("## Training data and hyperparameters")[1].split("## Evaluation")[0]
    assert "| `num_epochs` | 200 |" in training
    assert "| `learning_rate` | 0.0005 |" in training
    assert "| `hidden_sizes` | [64, 64] |" in training
    assert "seed" not in training
    assert "| `torch` | `2.13.0` |" in training and "| `diffusers` | `0.42.1` |" in training
    assert "| `parameters` | 12345 |" in text
    assert "| `note` | a\\|b |" in text  # pipes are escaped inside table cells


@pytest.mark.parametrize(
    "hardware, sentence",
    [
        (
            {"train_seconds": 158.1, "device_name": "NVIDIA H200", "num_processes": 1},
            "Training took 158 s on NVIDIA H200.",
        ),
        (
            {"train_seconds": 300, "device_name": "NVIDIA H100", "num_processes": 4},
            "took 300 s on NVIDIA H100 (4 processes).",
        ),
        ({"train_seconds": 42.0, "device_name": None, "num_processes": None}, "Training took 42 s."),
    ],
)
def test_training_wall_time_and_hardware_are_stated(hardware, sentence):
    text = build_model_card(schema=make_schema(), training_args={"learning_rate": 0.002, "hardware": hardware}).text
    assert sentence in text
    assert "`hardware`" not in text  # a sentence, not an argument row


def test_without_a_recorded_wall_time_no_training_time_is_claimed():
    text = build_model_card(schema=make_schema(), training_args={"hardware": {"device_name": "cpu"}}).text
    assert "Training took" not in text


def test_packaged_template_and_model_cards_copy_are_identical():
    assert PACKAGED_TEMPLATE.read_text(encoding="utf-8") == CANONICAL_COPY.read_text(encoding="utf-8")
    assert load_template() == PACKAGED_TEMPLATE.read_text(encoding="utf-8")


def test_template_renders_through_model_card_from_template(tmp_path):
    from huggingface_hub import ModelCardData

    card = ModelCard.from_template(
        ModelCardData(library_name="timeautodiff_hf", tags=CARD_TAGS),
        template_path=CANONICAL_COPY,
        model_title="Minimal",
        model_ref="user/minimal",
    )
    assert card.data.library_name == "timeautodiff_hf"
    assert "# Minimal" in card.text and "Suh, Namjoon" in card.text


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"schema": {"time_column": "date"}}, "schema"),
        ({"schema": {"columns": []}}, "schema"),
        ({"schema": {"columns": [{"kind": "continuous"}]}}, "schema"),
        ({"schema": "not a dict"}, "schema"),
        ({"schema": make_schema(), "eval_results": [0.1]}, "eval_results"),
        ({"schema": make_schema(), "training_args": "lr=1"}, "training_args"),
        ({"schema": make_schema(), "repo_id": ""}, "repo_id"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build_model_card(**kwargs)


def test_write_model_card_rejects_a_file_as_directory(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="`save_directory`"):
        write_model_card(target, schema=make_schema())


def test_card_is_accepted_by_the_hub_stand_in_and_parsed_back(tmp_path):
    from huggingface_hub import HfApi

    try:
        from .hub_server import HubServer
    except ImportError:
        from hub_server import HubServer

    folder = tmp_path / "model"
    write_model_card(folder, schema=make_schema(), eval_results=EVAL_RESULTS, repo_id="test-user/card")
    with HubServer() as server:
        api = HfApi(endpoint=server.endpoint, token="hf_stand_in_token")
        api.create_repo("test-user/card")
        api.upload_folder(folder_path=folder, repo_id="test-user/card", commit_message="Add model card")
        assert any(request["path"] == "/api/validate-yaml" for request in server.requests)
        info = api.model_info("test-user/card")
    assert info.library_name == "timeautodiff_hf"
    assert set(CARD_TAGS) <= set(info.tags)
    assert info.card_data.eval_results[0].metric_type == "discriminative_score"
    assert info.card_data.eval_results[0].metric_value == 0.125
