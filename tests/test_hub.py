"""Sharing on the Hub, tested without the real Hub: push, load by repo id, offline reload, revisions and the card.

Everything runs against `tests/hub_server.py`, a Hub-compatible stand-in on 127.0.0.1, with the real
`huggingface_hub` client. `HF_ENDPOINT` (like `HF_HUB_CACHE` and `HF_HUB_OFFLINE`) is read when `huggingface_hub`
is imported, so every load by repo id runs in a child interpreter with those variables set. A fresh interpreter
spends about 10 s of CPU importing diffusers, so the loads are batched: one child talks to the stand-in (the CLI push,
then every load by repo id), a second one reloads from the cache with `HF_HUB_OFFLINE=1`; each load is a separate
job with its own result and error message.

What this does NOT exercise (see the stand-in's docstring):

- LFS and Xet binary upload: the stand-in answers "regular" to every preupload request, so the safetensors weights
  travel base64-encoded inside the commit payload; the S3/CAS upload and CDN-redirect download paths of
  `huggingface_hub` are never taken.
- Authentication and authorization: any token is accepted and private repos are readable by anyone (the `private`
  flag is only stored and reported).
- The real Hub's validation: model-card metadata checks beyond YAML parsing, repo-name rules, file-size limits,
  rate limits, pull requests and gated repos.

`test_push_and_reload_on_the_real_hub` covers the real Hub when `HF_TOKEN` and `TIMEAUTODIFF_REAL_HUB_REPO` are set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from diffusers import DDIMScheduler
from huggingface_hub import HfApi, ModelCard, hf_hub_download

from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.cli import main as cli_main

try:
    from .hub_server import HubServer
    from .tiny_model import train_tiny_pipeline
except ImportError:
    from hub_server import HubServer
    from tiny_model import train_tiny_pipeline

TOKEN = "hf_stand_in_token"  # any token is accepted by the stand-in
EVAL_RESULTS = {"discriminative_score": 0.05, "forecast_mae": 1.2}
PIPELINE_FILES = {
    "README.md",
    "model_index.json",
    "training_args.json",
    "forecast_calibration.json",  # the tiny table's validation tail calibrates, with the training period as history
    "processor/preprocessor_config.json",
    "scheduler/scheduler_config.json",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "denoiser/config.json",
    "denoiser/diffusion_pytorch_model.safetensors",
}
HAND_BUILT_SHA = hashlib.sha1(b"hand-built cache entry").hexdigest()
# Child interpreter: runs the jobs of argv[1] in order and prints one JSON line of results at the end. A "load" job
# loads a repo id with TimeAutoDiffPipeline.from_pretrained and samples 2 sequences with a seeded generator (the same
# call as `sample_json` below); a "cli" job runs `timeautodiff ...` through the CLI's entry function.
WORKER = """
import contextlib, io, json, sys
import torch
from timeautodiff_hf import TimeAutoDiffPipeline
from timeautodiff_hf.cli import main as cli_main

results = {}
for job in json.loads(sys.argv[1]):
    try:
        if job["kind"] == "cli":
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                code = cli_main(job["argv"])
            results[job["id"]] = {"ok": code == 0, "code": code, "stdout": stdout.getvalue()}
            continue
        kwargs = {"revision": job["revision"]} if job.get("revision") else {}
        pipe = TimeAutoDiffPipeline.from_pretrained(job["repo"], **kwargs)
        pipe.set_progress_bar_config(disable=True)
        frames = pipe(num_sequences=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0)).frames
        results[job["id"]] = {
            "ok": True,
            "frames": frames.to_json(orient="split", date_format="iso"),
            "scheduler": type(pipe.scheduler).__name__,
            "folder": str(pipe.name_or_path),
        }
    except Exception as error:
        print(f"{job['id']}: {type(error).__name__}: {error}", file=sys.stderr)
        results[job["id"]] = {"ok": False, "error": type(error).__name__, "message": str(error)}
print("HUB_RESULTS " + json.dumps(results))
"""


# ---------------------------------------------------------------------------------------------------- helpers
def sample_json(pipe: TimeAutoDiffPipeline) -> str:
    frames = pipe(num_sequences=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0)).frames
    return frames.to_json(orient="split", date_format="iso")


def child_env(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    # One torch thread per process, as in this process (see `one_thread`): same kernels, identical samples.
    return {**env, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **extra}


def run_worker(jobs: list[dict], env: dict) -> tuple[dict, str]:
    completed = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(jobs)], capture_output=True, text=True, env=env, timeout=300
    )
    marker = [line for line in completed.stdout.splitlines() if line.startswith("HUB_RESULTS ")]
    assert completed.returncode == 0 and marker, completed.stderr[-4000:]
    return json.loads(marker[-1].split(" ", 1)[1]), completed.stderr


def front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, text[:300]
    return yaml.safe_load(match.group(1))


def schema_table_names(text: str) -> list[str]:
    section = text.split("## Schema")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Column ")]
    return [row.split("|")[1].strip().strip("`") for row in rows]


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The suite shares 2 cores; torch's thread pool spinning against other processes makes tiny models 50x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_tiny_pipeline(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(model_dir) -> TimeAutoDiffPipeline:
    pipeline = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def pipe_v2(model_dir) -> TimeAutoDiffPipeline:
    """The same weights with a DDIM scheduler, pushed to the branch `v2`, so a load can tell the branches apart."""
    pipeline = TimeAutoDiffPipeline.from_pretrained(model_dir)
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def server():
    with HubServer() as hub:
        yield hub


@pytest.fixture(scope="module")
def hub(server, pipe, pipe_v2, model_dir, tmp_path_factory) -> dict:
    """Everything pushed to the stand-in (in this process, with `endpoint=`), plus what the checks need to compare."""
    api = HfApi(endpoint=server.endpoint, token=TOKEN)
    state = {}
    # 1. main: the tiny pipeline with evaluation results for the card
    state["first_url"] = pipe.push_to_hub(
        "org/tiny", endpoint=server.endpoint, token=TOKEN, commit_message="first", eval_results=EVAL_RESULTS
    )
    state["commits_after_first"] = server.commits("org/tiny")
    state["main_files"] = server.repo_files("org/tiny")
    # 2. branch v2: another scheduler; main must stay as it was
    state["v2_url"] = pipe_v2.push_to_hub("org/tiny", endpoint=server.endpoint, token=TOKEN, revision="v2")
    # 3. a diffusers pipeline of another kind, and a TimeAutoDiff folder that lacks its denoiser
    root = tmp_path_factory.mktemp("foreign")
    foreign = root / "foreign"
    foreign.mkdir()
    (foreign / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionPipeline",
                "_diffusers_version": "0.42.1",
                "unet": ["diffusers", "UNet2DConditionModel"],
            }
        )
    )
    incomplete = shutil.copytree(model_dir, root / "incomplete", ignore=shutil.ignore_patterns("denoiser"))
    for repo_id, folder in (("org/foreign", foreign), ("org/incomplete", incomplete)):
        api.create_repo(repo_id)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    # 4. the folder the CLI pushes: a copy without README.md (`timeautodiff push` renders the card first)
    state["cli_folder"] = shutil.copytree(model_dir, root / "cli", ignore=shutil.ignore_patterns("README.md"))
    return state


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_cache")


@pytest.fixture(scope="module")
def online(hub, server, cache_dir) -> tuple[dict, str]:
    """One child with HF_ENDPOINT = the stand-in: `timeautodiff push`, then every load by repo id."""
    jobs = [
        {"id": "cli_push", "kind": "cli", "argv": ["push", str(hub["cli_folder"]), "--repo-id", "org/cli"]},
        {"id": "main", "kind": "load", "repo": "org/tiny"},
        {"id": "v2", "kind": "load", "repo": "org/tiny", "revision": "v2"},
        {"id": "pinned", "kind": "load", "repo": "org/tiny", "revision": hub["commits_after_first"][1]["oid"]},
        {"id": "missing", "kind": "load", "repo": "org/missing"},
        {"id": "foreign", "kind": "load", "repo": "org/foreign"},
        {"id": "incomplete", "kind": "load", "repo": "org/incomplete"},
    ]
    env = child_env(HF_ENDPOINT=server.endpoint, HF_HUB_CACHE=str(cache_dir), HF_TOKEN=TOKEN)
    return run_worker(jobs, env)


@pytest.fixture(scope="module")
def offline(online, server, model_dir, cache_dir) -> tuple[dict, str]:
    """
    A second child with HF_HUB_OFFLINE=1 on the cache the first one filled, plus a hand-built entry `org/name` that
    never was on any server (DESIGN.md §7: `refs/main` holds the sha without a trailing newline).
    """
    entry = cache_dir / "models--org--name"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(HAND_BUILT_SHA)
    shutil.copytree(model_dir, entry / "snapshots" / HAND_BUILT_SHA)
    jobs = [
        {"id": "main", "kind": "load", "repo": "org/tiny"},
        {"id": "v2", "kind": "load", "repo": "org/tiny", "revision": "v2"},
        {"id": "hand_built", "kind": "load", "repo": "org/name"},
    ]
    requests_before = len(server.requests)
    # A closed port as endpoint: any attempt to reach a server would fail.
    results, stderr = run_worker(
        jobs, child_env(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache_dir), HF_ENDPOINT="http://127.0.0.1:9")
    )
    assert len(server.requests) == requests_before
    return results, stderr


# ---------------------------------------------------------------------------------------------------- push
def test_push_to_hub_makes_one_commit_with_the_whole_pipeline_and_no_pickles(hub, server):
    commits = hub["commits_after_first"]
    assert [commit["message"] for commit in commits] == ["initial commit", "first"]
    assert set(commits[1]["files"]) == PIPELINE_FILES
    assert set(hub["main_files"]) == PIPELINE_FILES | {".gitattributes"}
    assert not [path for path in hub["main_files"] if path.endswith((".bin", ".pkl", ".pt", ".ckpt"))]
    assert hub["first_url"] == f"{server.endpoint}/org/tiny/commit/{commits[1]['oid']}"
    index = json.loads(hub["main_files"]["model_index.json"])
    assert index["_class_name"] == "TimeAutoDiffPipeline"
    assert index["vae"] == ["timeautodiff_hf.modeling_vae", "TimeAutoDiffVAE"]


def test_loading_by_repo_id_reproduces_the_local_samples(online, pipe, cache_dir):
    results, _ = online
    assert results["main"]["ok"], results["main"]
    assert results["main"]["frames"] == sample_json(pipe)
    assert results["main"]["scheduler"] == "DDPMScheduler"
    assert Path(results["main"]["folder"]).is_relative_to(cache_dir / "models--org--tiny" / "snapshots")


def test_offline_reload_from_the_cache_gives_the_same_samples(offline, pipe):
    results, _ = offline
    assert results["main"]["ok"], results["main"]
    assert results["main"]["frames"] == sample_json(pipe)


def test_revision_loads_the_branch_and_leaves_main_unchanged(hub, online, offline, server, pipe, pipe_v2):
    commits = server.commits("org/tiny")
    assert [commit["revision"] for commit in commits] == ["main", "main", "v2"]
    assert server.branches("org/tiny")["main"] == hub["commits_after_first"][1]["oid"]
    assert server.repo_files("org/tiny") == hub["main_files"]
    assert "DDIMScheduler" in server.repo_files("org/tiny", revision="v2")["scheduler/scheduler_config.json"].decode()
    assert sample_json(pipe_v2) != sample_json(pipe)  # the branches are told apart by their samples
    for results, _ in (online, offline):
        assert results["v2"]["ok"], results["v2"]
        assert results["v2"]["scheduler"] == "DDIMScheduler"
        assert results["v2"]["frames"] == sample_json(pipe_v2)
        assert results["main"]["scheduler"] == "DDPMScheduler"


def test_revision_can_be_a_commit_id(online, pipe):
    results, _ = online
    assert results["pinned"]["ok"], results["pinned"]
    assert results["pinned"]["frames"] == sample_json(pipe)


def test_pushing_an_unchanged_pipeline_again_makes_no_empty_commit(pipe, server):
    first = pipe.push_to_hub("org/again", endpoint=server.endpoint, token=TOKEN)
    second = pipe.push_to_hub("org/again", endpoint=server.endpoint, token=TOKEN)
    assert len(server.commits("org/again")) == 2  # "initial commit" and the upload
    assert second == first


def test_private_flag_reaches_the_hub(pipe, server):
    pipe.push_to_hub("org/private", endpoint=server.endpoint, token=TOKEN, private=True)
    pipe.push_to_hub("org/public", endpoint=server.endpoint, token=TOKEN)
    assert server.is_private("org/private")
    assert not server.is_private("org/public")


# ---------------------------------------------------------------------------------------------------- card
@pytest.fixture(scope="module")
def hub_card_path(hub, server, tmp_path_factory) -> str:
    return hf_hub_download(
        "org/tiny", "README.md", endpoint=server.endpoint, token=TOKEN, cache_dir=tmp_path_factory.mktemp("card")
    )


def test_card_on_the_hub_has_library_name_tags_and_eval_results(hub_card_path):
    metadata = front_matter(Path(hub_card_path).read_text(encoding="utf-8"))
    assert metadata["library_name"] == "timeautodiff_hf"
    assert {"time-series", "tabular", "synthetic-data", "timeautodiff"} <= set(metadata["tags"])
    results = {result.metric_type: result.metric_value for result in ModelCard.load(hub_card_path).data.eval_results}
    assert results == EVAL_RESULTS


def test_card_on_the_hub_lists_every_column_in_its_schema_table(hub_card_path, pipe):
    names = schema_table_names(Path(hub_card_path).read_text(encoding="utf-8"))
    assert names == pipe.processor.column_names


def test_card_on_the_hub_shows_how_to_load_the_repo(hub_card_path):
    card = ModelCard.load(hub_card_path)
    assert 'TimeAutoDiffPipeline.from_pretrained("org/tiny")' in card.text
    assert card.data.model_name == "tiny"


def test_card_command_refreshes_the_readme_with_an_evaluation_report(model_dir, pipe, tmp_path):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / "README.md").write_text("stale card\n")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"summary": {"discriminative_score": 0.1}}))

    assert cli_main(["card", str(folder), "--eval-report", str(report)]) == 0

    text = (folder / "README.md").read_text(encoding="utf-8")
    assert front_matter(text)["library_name"] == "timeautodiff_hf"
    card = ModelCard.load(folder / "README.md")
    assert [(result.metric_type, result.metric_value) for result in card.data.eval_results] == [
        ("discriminative_score", 0.1)
    ]
    evaluation = text.split("## Evaluation")[1].split("\n## ")[0]
    assert "discriminative_score" in evaluation and "0.1" in evaluation
    assert json.loads((folder / "evaluation_report.json").read_text()) == json.loads(report.read_text())
    # The folder was re-saved in place and still loads to the same model.
    reloaded = TimeAutoDiffPipeline.from_pretrained(folder)
    reloaded.set_progress_bar_config(disable=True)
    assert sample_json(reloaded) == sample_json(pipe)


# ------------------------------------------------------------------------------------------- CLI, cache, errors
def test_cli_push_makes_one_commit_with_a_rendered_card(online, server):
    results, _ = online
    assert results["cli_push"]["ok"], results["cli_push"]
    commits = server.commits("org/cli")
    assert [commit["message"] for commit in commits] == ["initial commit", "Upload TimeAutoDiff pipeline"]
    assert set(commits[1]["files"]) == PIPELINE_FILES
    assert f"{server.endpoint}/org/cli/commit/{commits[1]['oid']}" in results["cli_push"]["stdout"]
    readme = server.repo_files("org/cli")["README.md"].decode()
    assert front_matter(readme)["library_name"] == "timeautodiff_hf"


def test_hand_built_offline_cache_loads(offline, pipe, cache_dir):
    results, _ = offline
    assert results["hand_built"]["ok"], results["hand_built"]
    assert results["hand_built"]["frames"] == sample_json(pipe)
    assert Path(results["hand_built"]["folder"]) == cache_dir / "models--org--name" / "snapshots" / HAND_BUILT_SHA


def test_repo_of_another_pipeline_class_is_refused_with_a_clear_error(online):
    results, stderr = online
    assert results["foreign"]["error"] == "ValueError"
    assert "StableDiffusionPipeline" in results["foreign"]["message"]
    assert "not a TimeAutoDiffPipeline" in results["foreign"]["message"]
    assert "foreign: ValueError:" in stderr and "TimeAutoDiffPipeline" in stderr


def test_unknown_repo_id_raises_repository_not_found(online):
    results, _ = online
    assert results["missing"]["error"] == "RepositoryNotFoundError"
    assert "org/missing" in results["missing"]["message"]


def test_repo_missing_a_component_is_refused_with_a_clear_error(online):
    results, stderr = online
    assert results["incomplete"]["error"] == "ValueError"
    assert "lacks the 'denoiser' component" in results["incomplete"]["message"]
    assert "incomplete: ValueError:" in stderr


# ---------------------------------------------------------------------------------------------------- real Hub
@pytest.mark.skipif(
    not (os.environ.get("HF_TOKEN") and os.environ.get("TIMEAUTODIFF_REAL_HUB_REPO")),
    reason="opt-in: set HF_TOKEN (write access) and TIMEAUTODIFF_REAL_HUB_REPO=org/name to push to the real Hub",
)
def test_push_and_reload_on_the_real_hub(pipe, tmp_path):
    repo_id = os.environ["TIMEAUTODIFF_REAL_HUB_REPO"]
    url = pipe.push_to_hub(repo_id, private=True, commit_message="timeautodiff_hf test push")
    assert f"/{repo_id}/commit/" in url
    reloaded = TimeAutoDiffPipeline.from_pretrained(repo_id, cache_dir=str(tmp_path / "cache"))
    reloaded.set_progress_bar_config(disable=True)
    assert sample_json(reloaded) == sample_json(pipe)
