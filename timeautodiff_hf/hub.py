"""Sharing saved pipelines on the Hugging Face Hub: one commit with weights, configs, processor JSON and our card."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Files a pipeline folder carries besides the saved components; copied along when a loaded pipeline is pushed.
EXTRA_FILES = ("training_args.json", "evaluation_report.json")


def push_folder_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload TimeAutoDiff pipeline",
    token: str | None = None,
    endpoint: str | None = None,
) -> str:
    """
    Upload a saved pipeline folder to `repo_id` in ONE commit (created if needed; `revision` branches too).

    Args:
        folder (`str` or `os.PathLike`): a `save_pretrained` folder with its README.md model card.
        repo_id (`str`): `"org/name"`.
        private (`bool`, *optional*): visibility when the repo is created.
        revision (`str`, *optional*): branch to commit to (created from `main` if absent).
        commit_message (`str`, *optional*): the commit message.
        token (`str`, *optional*): a Hub token; by default the usual places (`HF_TOKEN`, the login cache).
        endpoint (`str`, *optional*): a Hub endpoint other than `HF_ENDPOINT`.

    Returns:
        `str`: the URL of the commit.
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved pipeline folder (no model_index.json); save it first.")
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"`repo_id` must look like 'org/name', got {repo_id!r}.")
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if private is not None:
        # `create_repo(exist_ok=True)` leaves an existing repo's visibility as it was: set it explicitly.
        api.update_repo_settings(repo_id, private=private)
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        revision=revision,
        commit_message=commit_message,
        ignore_patterns=["checkpoint-*", ".tmp-checkpoint-*", "logs/*", "*.pkl", "*.bin"],
    )
    return str(getattr(commit, "commit_url", commit))


def save_with_card(
    pipeline: Any, save_directory: str | os.PathLike, eval_results: dict | None = None, repo_id: str | None = None
) -> Path:
    """`save_pretrained` plus our model card (with usage for `repo_id` when given) and the extra files of the folder
    the pipeline was loaded from."""
    from .modelcard import write_model_card

    save_directory = Path(save_directory)
    pipeline.save_pretrained(str(save_directory))
    source = Path(str(getattr(pipeline, "name_or_path", "") or ""))
    for name in EXTRA_FILES:
        if source.is_dir() and (source / name).is_file() and source.resolve() != save_directory.resolve():
            shutil.copyfile(source / name, save_directory / name)
    training_args = None
    if (save_directory / "training_args.json").is_file():
        record = json.loads((save_directory / "training_args.json").read_text())
        hardware = {key: record.get(key) for key in ("train_seconds", "device_name", "num_processes")}
        training_args = {**record.get("args", {}), "versions": record.get("versions", {}), "hardware": hardware}
    if eval_results is None and (save_directory / "evaluation_report.json").is_file():
        eval_results = flatten_report(json.loads((save_directory / "evaluation_report.json").read_text()))
    schema = {**pipeline.processor.schema(), "latent_dim": pipeline.vae.config.latent_dim}
    dataset_name = None
    if training_args:
        # Only a Hub dataset id belongs in the card's `datasets` field, not a local file name.
        dataset_name = training_args.get("dataset_name")
    write_model_card(
        save_directory,
        schema=schema,
        training_args=training_args,
        eval_results=eval_results,
        dataset_name=dataset_name,
        repo_id=repo_id,
    )
    return save_directory


def push_pipeline_to_hub(pipeline: Any, repo_id: str, **kwargs) -> str:
    """Save `pipeline` with its card into a temporary folder and upload it in one commit."""
    with tempfile.TemporaryDirectory() as directory:
        save_with_card(pipeline, directory, eval_results=kwargs.pop("eval_results", None), repo_id=repo_id)
        return push_folder_to_hub(directory, repo_id, **kwargs)


def flatten_report(report: dict) -> dict[str, float]:
    """The headline numbers of an evaluation report as `{metric: value}` for the card's model-index."""
    flat = {}
    for key, value in report.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            flat[key] = float(value)
        elif isinstance(value, dict) and isinstance(value.get("mean"), (int, float)):
            flat[key] = float(value["mean"])
        elif isinstance(value, dict) and key in ("summary", "headline"):
            flat.update(flatten_report(value))
    return flat
