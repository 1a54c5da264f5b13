"""Model card (README.md) rendering for TimeAutoDiff checkpoints: Hub metadata, usage, schema and evaluation."""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

__all__ = ["CARD_TAGS", "build_model_card", "load_template", "write_model_card"]

LIBRARY_NAME = "timeautodiff_hf"
CARD_TAGS = ["time-series", "tabular", "synthetic-data", "timeautodiff", "diffusers"]
TASK_TYPE = "time-series-generation"
TASK_NAME = "Synthetic time-series generation"
TEMPLATE_RESOURCE = ("templates", "model_card.md")
LOCAL_MODEL_PLACEHOLDER = "path/to/saved_model"
MAX_CATEGORIES_SHOWN = 10

# Known metrics: display name and how to read them. Other numeric keys of `eval_results` are reported as they are.
KNOWN_METRICS = {
    "discriminative_score": (
        "Discriminative score",
        "lower is better (0 = a classifier cannot tell real from synthetic)",
    ),
    "discriminative_score_held_out_blocks": (
        "Discriminative score, classifier tested on held-out time blocks",
        "lower is better (no credit for recognising overlapping real windows)",
    ),
    "temporal_discriminative_score": ("Temporal discriminative score", "lower is better (sequence-level classifier)"),
    "predictive_score_mae": ("Predictive score (MAE)", "lower is better (train on synthetic, test on real)"),
    "marginal_distance": ("Marginal distance", "lower is better (per-column distribution distance)"),
    "autocorrelation_error": ("Autocorrelation error", "lower is better"),
    "dcr_share_closer_to_train": (
        "DCR share closer to train",
        "about 0.5 expected; well above 0.5 suggests memorisation",
    ),
    "exact_copies": ("Exact copies of training sequences", "0 expected"),
    "imputation_mae": ("Imputation MAE", "lower is better"),
    "forecast_mae": ("Forecast MAE", "lower is better"),
    "forecast_crps": ("Forecast CRPS", "lower is better"),
}
FIDELITY_METRICS = (
    "discriminative_score",
    "discriminative_score_held_out_blocks",
    "temporal_discriminative_score",
    "predictive_score_mae",
    "marginal_distance",
    "autocorrelation_error",
)
TASK_METRICS = ("imputation_mae", "forecast_mae", "forecast_crps")
PRIVACY_METRICS = ("dcr_share_closer_to_train", "exact_copies")


def build_model_card(
    *,
    schema: dict,
    training_args: dict | None = None,
    eval_results: dict | None = None,
    repo_id: str | None = None,
    dataset_name: str | None = None,
    license: str = "other",
    base_info: dict | None = None,
) -> ModelCard:
    r"""
    Build the model card of a trained TimeAutoDiff pipeline.

    The card holds Hub metadata (library, tags, license, datasets and a `model-index` with one result per numeric
    evaluation metric) and sections on the model, usage snippets for every task, the data schema, training
    hyperparameters, evaluation, limitations (including the privacy audit) and the citation.

    Args:
        schema (`dict`):
            The processor's schema (`TimeAutoDiffProcessor.schema()`): a `"columns"` list of
            `{"name", "kind", "dtype", "role", "categories"}` dicts, plus optional `"time_column"`,
            `"entity_column"`, `"frequency"`, `"sequence_length"` and `"latent_dim"`.
        training_args (`dict`, *optional*):
            Training hyperparameters to list (entries set to `None` are skipped). Library versions may be given as a
            `{"library": "version"}` dict under the `"versions"` key, and the run's wall time and hardware as
            `{"train_seconds": ..., "device_name": ..., "num_processes": ...}` under the `"hardware"` key.
        eval_results (`dict`, *optional*):
            Evaluation metrics, flat (`{"discriminative_score": 0.08}`) or nested
            (`{"discriminative_score": {"mean": 0.08, "std": 0.01}}`, the mean is reported). Non-numeric entries
            are ignored. Without it, the card says the model was not evaluated.
        repo_id (`str`, *optional*):
            Hub repository id used in the usage snippets and as model name. Defaults to a local path placeholder.
        dataset_name (`str`, *optional*):
            Name (ideally a Hub dataset id) of the training data, added to the card's `datasets` metadata and to
            the evaluation results. Defaults to `"custom"` in the evaluation results.
        license (`str`, *optional*, defaults to `"other"`):
            License identifier of the model weights.
        base_info (`dict`, *optional*):
            Additional model facts (e.g. parameter counts, layer sizes, number of diffusion steps) listed in the
            "Model details" table. A `"base_model"` entry (Hub id of the checkpoint this one was fine-tuned from) is
            also written to the card metadata.

    Returns:
        [`~huggingface_hub.ModelCard`]: the rendered card; save it with `card.save(path)` or
        [`write_model_card`].

    Example:

    ```python
    >>> from timeautodiff_hf.modelcard import build_model_card
    >>> schema = {"time_column": "date", "columns": [{"name": "temp", "kind": "continuous", "role": "feature"}]}
    >>> card = build_model_card(schema=schema, eval_results={"discriminative_score": 0.08}, repo_id="me/weather")
    >>> card.data.eval_results[0].metric_value
    0.08
    ```
    """
    columns = _check_schema(schema)
    training_args = _check_optional_dict(training_args, "training_args")
    eval_results = _check_optional_dict(eval_results, "eval_results")
    base_info = _check_optional_dict(base_info, "base_info")
    if repo_id is not None and (not isinstance(repo_id, str) or not repo_id.strip()):
        raise ValueError(f"`repo_id` must be a non-empty string like 'user/model' or None, got {repo_id!r}.")
    if dataset_name is not None and (not isinstance(dataset_name, str) or not dataset_name.strip()):
        raise ValueError(f"`dataset_name` must be a non-empty string or None, got {dataset_name!r}.")
    if not isinstance(license, str) or not license.strip():
        raise ValueError(f"`license` must be a non-empty license identifier such as 'mit', got {license!r}.")

    metrics = _numeric_metrics(eval_results) if eval_results is not None else {}
    model_name = repo_id.split("/")[-1] if repo_id else "timeautodiff-model"
    dataset_label = dataset_name or "custom"
    card_results = [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=dataset_label,
            dataset_name=dataset_label,
            metric_type=name,
            metric_name=KNOWN_METRICS.get(name, (name,))[0],
            metric_value=value,
        )
        for name, value in metrics.items()
    ]
    base_model = (base_info or {}).get("base_model")
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        tags=list(CARD_TAGS),
        license=license,
        datasets=[dataset_name] if dataset_name else None,
        base_model=base_model if isinstance(base_model, str) else None,
        model_name=model_name if card_results else None,  # only used by (and required for) the model-index
        eval_results=card_results or None,
    )

    template_kwargs = _template_variables(
        schema=schema,
        columns=columns,
        training_args=training_args,
        eval_results=eval_results,
        metrics=metrics,
        repo_id=repo_id,
        model_name=model_name,
        dataset_name=dataset_name,
        base_info=base_info,
    )
    rendered = ModelCard.from_template(card_data, template_str=load_template(), **template_kwargs)
    # Collapse the blank lines left by template conditionals and end the file with a single newline.
    content = re.sub(r"\n{3,}", "\n\n", rendered.content).rstrip() + "\n"
    return ModelCard(content)


def write_model_card(save_directory: str | os.PathLike, **kwargs: Any) -> Path:
    r"""
    Render the model card with [`build_model_card`] and write it as `README.md` in `save_directory`.

    Args:
        save_directory (`str` or `os.PathLike`):
            Directory of the saved pipeline; created if missing.
        **kwargs:
            Keyword arguments of [`build_model_card`] (`schema` is required).

    Returns:
        `Path`: path of the written `README.md`.
    """
    if save_directory is None or str(save_directory) == "":
        raise ValueError(f"`save_directory` must be a directory path, got {save_directory!r}.")
    directory = Path(save_directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"`save_directory` must be a directory, but {str(directory)!r} is a file.")
    card = build_model_card(**kwargs)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "README.md"
    card.save(path)
    return path


def load_template() -> str:
    """Return the packaged Jinja2 model card template (`timeautodiff_hf/templates/model_card.md`)."""
    folder, name = TEMPLATE_RESOURCE
    return resources.files(__package__).joinpath(folder).joinpath(name).read_text(encoding="utf-8")


# -- validation -----------------------------------------------------------------------------------------------------


def _check_schema(schema: Any) -> list[dict]:
    if not isinstance(schema, dict):
        raise ValueError(f"`schema` must be the processor's schema dict, got {type(schema).__name__}.")
    columns = schema.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ValueError(
            f"`schema` must have a non-empty 'columns' list of {{'name', 'kind', 'role', ...}} dicts, got {columns!r}."
        )
    for index, column in enumerate(columns):
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise ValueError(f"`schema` column {index} must be a dict with a string 'name', got {column!r}.")
        if not isinstance(column.get("kind"), str):
            raise ValueError(f"`schema` column {column['name']!r} must have a string 'kind', got {column!r}.")
        categories = column.get("categories")
        if categories is not None and not isinstance(categories, (list, tuple)):
            raise ValueError(
                f"`schema` column {column['name']!r} must list its 'categories' as a list, got {categories!r}."
            )
    return columns


def _check_optional_dict(value: Any, name: str) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"`{name}` must be a dict or None, got {type(value).__name__}.")
    return value


def _as_number(value: Any) -> float | int | None:
    """Return `value` as a finite Python number, or `None` when it is not one (strings, bools, NaN, ...)."""
    if isinstance(value, dict):
        return _as_number(value.get("mean"))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _numeric_metrics(eval_results: dict) -> dict[str, float | int]:
    metrics = {}
    for name, value in eval_results.items():
        number = _as_number(value)
        if number is not None:
            metrics[str(name)] = number
    return metrics


# -- formatting -----------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """Format `value` for a Markdown table cell: compact JSON for containers, escaped pipes, no newlines."""
    if value is None:
        text = ""
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, ensure_ascii=False)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(value: Any) -> str:
    text = _cell(value)
    return f"`{text}`" if text else ""


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _categories(column: dict) -> str:
    categories = column.get("categories")
    if not categories:
        return ""
    shown = ", ".join(_cell(category) for category in categories[:MAX_CATEGORIES_SHOWN])
    if len(categories) > MAX_CATEGORIES_SHOWN:
        shown += f", … ({len(categories)} total)"
    return shown


def _training_run(hardware: dict) -> str | None:
    """How long training took and where (e.g. "612 s on NVIDIA H200"), so readers can compare their own runs."""
    seconds = _as_number(hardware.get("train_seconds"))
    if seconds is None:
        return None
    where = hardware.get("device_name")
    processes = hardware.get("num_processes")
    text = f"{seconds:.0f} s"
    if where:
        text += f" on {_cell(where)}"
        if isinstance(processes, int) and processes > 1:
            text += f" ({processes} processes)"
    return text


def _template_variables(
    *,
    schema: dict,
    columns: list[dict],
    training_args: dict | None,
    eval_results: dict | None,
    metrics: dict,
    repo_id: str | None,
    model_name: str,
    dataset_name: str | None,
    base_info: dict | None,
) -> dict:
    """Everything the template shows, pre-formatted so that the template only loops and tests."""
    schema_rows = [
        {
            "name": _code(column["name"]),
            "kind": _cell(column.get("kind")),
            "dtype": _code(column.get("dtype")),
            "role": _cell(column.get("role", "feature"))
            + (
                f" (follows the timestamp's {_cell(str(column['calendar_key'])).replace('_', ' ')})"
                if column.get("calendar_key")
                else ""
            ),
            "categories": _categories(column),
        }
        for column in columns
    ]
    roles = [column.get("role", "feature") for column in columns]
    metadata_columns = [column["name"] for column in columns if column.get("role") == "metadata"]
    frequency = schema.get("frequency")

    training_rows = []
    version_rows = []
    training_run = None
    for key, value in (training_args or {}).items():
        if value is None:
            continue
        if key == "versions" and isinstance(value, dict):
            version_rows = [{"name": _code(name), "value": _code(version)} for name, version in value.items()]
        elif key == "hardware" and isinstance(value, dict):
            training_run = _training_run(value)
        else:
            training_rows.append({"name": _code(key), "value": _cell(value)})

    eval_rows = []
    for name, value in metrics.items():
        raw = eval_results[name]
        spread = _as_number(raw.get("std")) if isinstance(raw, dict) else None
        label, reading = KNOWN_METRICS.get(name, (name, ""))
        eval_rows.append(
            {
                "metric": _cell(label),
                "key": _code(name),
                "value": _number(value) + (f" ± {_number(spread)}" if spread is not None else ""),
                "reading": _cell(reading),
            }
        )
    privacy = {name: metrics[name] for name in PRIVACY_METRICS if name in metrics}
    dcr = privacy.get("dcr_share_closer_to_train")
    not_evaluated = [
        KNOWN_METRICS[name][0] for name in (*FIDELITY_METRICS, *TASK_METRICS, *PRIVACY_METRICS) if name not in metrics
    ]
    base_rows = [
        {"name": _code(key), "value": _cell(value)} for key, value in (base_info or {}).items() if value is not None
    ]

    return {
        "repo_id": repo_id,
        "model_ref": repo_id or LOCAL_MODEL_PLACEHOLDER,
        "model_title": f"TimeAutoDiff: {repo_id}" if repo_id else "TimeAutoDiff model",
        "dataset_name": dataset_name,
        "num_columns": len(columns),
        "num_features": roles.count("feature"),
        "num_metadata": roles.count("metadata"),
        "num_static": roles.count("static"),
        "time_column": schema.get("time_column"),
        "entity_column": schema.get("entity_column"),
        "frequency": None if frequency is None else str(frequency),
        "sequence_length": schema.get("sequence_length"),
        "latent_dim": schema.get("latent_dim"),
        "schema_rows": schema_rows,
        "metadata_columns": metadata_columns,
        "metadata_columns_text": ", ".join(f"`{name}`" for name in metadata_columns),
        "base_rows": base_rows,
        "training_rows": training_rows,
        "version_rows": version_rows,
        "training_run": training_run,
        "evaluated": eval_results is not None,
        "eval_rows": eval_rows,
        "dcr_share": _number(dcr) if dcr is not None else None,
        "dcr_high": dcr is not None and dcr > 0.6,
        "exact_copies": _number(privacy["exact_copies"]) if "exact_copies" in privacy else None,
        "privacy_audited": bool(privacy),
        "not_evaluated": not_evaluated,
    }
