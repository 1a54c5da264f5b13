"""Tests of the Hub stand-in server (`tests/hub_server.py`) with plain files and the real `huggingface_hub` client."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors.torch import save_file

try:  # `tests/` as a package, or as a plain rootdir on `sys.path` (pytest's default import mode)
    from .hub_server import HubServer, git_blob_sha1
except ImportError:
    from hub_server import HubServer, git_blob_sha1


TOKEN = "hf_stand_in_token"  # any token is accepted: auth is not exercised


@pytest.fixture(scope="module")
def server():
    with HubServer() as hub:
        yield hub


@pytest.fixture
def api(server) -> HfApi:
    return HfApi(endpoint=server.endpoint, token=TOKEN)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    folder = tmp_path / "model"
    (folder / "scheduler").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"latent_dim": 8, "sequence_length": 24}), encoding="utf-8")
    (folder / "README.md").write_text(
        "---\nlibrary_name: timeautodiff_hf\ntags:\n- time-series\n---\n# A test model\n", encoding="utf-8"
    )
    (folder / "scheduler" / "scheduler_config.json").write_text('{"num_train_timesteps": 100}', encoding="utf-8")
    generator = torch.Generator().manual_seed(0)
    save_file({"weight": torch.randn(32, 16, generator=generator)}, str(folder / "model.safetensors"))
    return folder


def _local_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_upload_folder_is_one_commit_and_downloads_are_byte_identical(server, api, model_folder, tmp_path):
    repo_id = "test-user/roundtrip"
    url = api.create_repo(repo_id, exist_ok=True)
    assert url.repo_id == repo_id
    api.create_repo(repo_id, exist_ok=True)  # 409 from the server, swallowed by `exist_ok`

    info = api.upload_folder(folder_path=model_folder, repo_id=repo_id, commit_message="Upload model")
    local = _local_files(model_folder)
    assert len(local["model.safetensors"]) > 2048

    commits = server.commits(repo_id)
    assert [commit["message"] for commit in commits] == ["initial commit", "Upload model"]
    assert commits[-1]["oid"] == info.oid
    assert commits[-1]["revision"] == "main"
    assert commits[-1]["files"] == sorted(local)
    assert server.repo_files(repo_id) == {".gitattributes": server.repo_files(repo_id)[".gitattributes"], **local}

    # Everything went through the regular (inline base64) path, never LFS/Xet.
    paths = [request["path"] for request in server.requests]
    assert any(path.startswith(f"/api/models/{repo_id}/preupload/main") for path in paths)
    assert sum(path.startswith(f"/api/models/{repo_id}/commit/") for path in paths) == 1

    model_info = api.model_info(repo_id, files_metadata=True)
    assert model_info.sha == info.oid
    assert model_info.private is False
    assert model_info.card_data.library_name == "timeautodiff_hf"
    sizes = {sibling.rfilename: sibling.size for sibling in model_info.siblings}
    assert sizes["model.safetensors"] == len(local["model.safetensors"])
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *local])
    top_level = {entry.path for entry in api.list_repo_tree(repo_id)}
    assert top_level == {".gitattributes", "README.md", "config.json", "model.safetensors", "scheduler"}

    snapshot = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache", endpoint=server.endpoint))
    assert snapshot.name == info.oid
    downloaded = _local_files(snapshot)
    downloaded.pop(".gitattributes")
    assert downloaded == local

    single = hf_hub_download(
        repo_id, "scheduler/scheduler_config.json", cache_dir=tmp_path / "c2", endpoint=server.endpoint
    )
    assert Path(single).read_bytes() == local["scheduler/scheduler_config.json"]

    # ETag is the git blob id, and byte ranges are honoured.
    request = urllib.request.Request(f"{server.endpoint}/{repo_id}/resolve/main/model.safetensors")
    request.add_header("Range", "bytes=8-15")
    with urllib.request.urlopen(request) as response:
        assert response.status == 206
        assert response.headers["ETag"] == f'"{git_blob_sha1(local["model.safetensors"])}"'
        assert response.headers["X-Repo-Commit"] == info.oid
        assert response.read() == local["model.safetensors"][8:16]

    # Re-uploading unchanged files makes no commit (the preupload answer carries the remote blob ids).
    api.upload_folder(folder_path=model_folder, repo_id=repo_id, commit_message="No-op")
    assert len(server.commits(repo_id)) == 2


def test_branches_keep_their_own_tree(server, api, model_folder, tmp_path):
    repo_id = "test-user/branches"
    api.create_repo(repo_id)
    main_commit = api.upload_folder(folder_path=model_folder, repo_id=repo_id, commit_message="v1")

    with pytest.raises(RevisionNotFoundError):  # committing to a branch that was never created
        api.upload_folder(folder_path=model_folder, repo_id=repo_id, revision="dev", commit_message="v2")

    api.create_branch(repo_id, branch="dev")
    assert server.branches(repo_id) == {"main": main_commit.oid, "dev": main_commit.oid}
    (model_folder / "config.json").write_text(json.dumps({"latent_dim": 16}), encoding="utf-8")
    dev_commit = api.upload_folder(folder_path=model_folder, repo_id=repo_id, revision="dev", commit_message="v2")

    last = server.commits(repo_id)[-1]
    assert (last["message"], last["revision"], last["files"]) == ("v2", "dev", ["config.json"])
    assert last["parents"] == [main_commit.oid]
    assert server.repo_files(repo_id, revision="dev")["config.json"] == b'{"latent_dim": 16}'
    assert server.repo_files(repo_id)["config.json"] != b'{"latent_dim": 16}'
    assert {branch.name for branch in api.list_repo_refs(repo_id).branches} == {"main", "dev"}
    assert [commit.title for commit in api.list_repo_commits(repo_id, revision="dev")] == [
        "v2",
        "v1",
        "initial commit",
    ]

    dev = Path(snapshot_download(repo_id, revision="dev", cache_dir=tmp_path / "cache", endpoint=server.endpoint))
    main = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache", endpoint=server.endpoint))
    assert dev.name == dev_commit.oid and main.name == main_commit.oid
    assert json.loads((dev / "config.json").read_text()) == {"latent_dim": 16}
    assert json.loads((main / "config.json").read_text()) == {"latent_dim": 8, "sequence_length": 24}
    # An old commit stays addressable by its id.
    assert server.repo_files(repo_id, revision=main_commit.oid)["config.json"] == (main / "config.json").read_bytes()


def test_private_flag_round_trips(server, api):
    api.create_repo("test-user/private", private=True)
    api.create_repo("test-user/public", private=False)
    assert api.model_info("test-user/private").private is True
    assert server.is_private("test-user/private")
    assert api.model_info("test-user/public").private is False
    api.update_repo_settings("test-user/public", private=True)
    assert api.model_info("test-user/public").private is True


def test_missing_repo_file_and_revision_raise_client_errors(server, api, model_folder, tmp_path):
    repo_id = "test-user/errors"
    api.create_repo(repo_id)
    api.upload_folder(folder_path=model_folder, repo_id=repo_id, commit_message="Upload")
    cache = tmp_path / "cache"

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-user/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-user/does-not-exist", "config.json", cache_dir=cache, endpoint=server.endpoint)
    with pytest.raises(EntryNotFoundError) as error:
        hf_hub_download(repo_id, "missing.json", cache_dir=cache, endpoint=server.endpoint)
    assert isinstance(error.value, RemoteEntryNotFoundError)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="no-such-branch", cache_dir=cache, endpoint=server.endpoint)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch", cache_dir=cache, endpoint=server.endpoint)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="0" * 40)


def test_offline_reload_from_cache_in_subprocesses(server, api, model_folder, tmp_path):
    repo_id = "test-user/offline"
    api.create_repo(repo_id)
    commit = api.upload_folder(folder_path=model_folder, repo_id=repo_id, commit_message="Upload")
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in server.repo_files(repo_id).items()}
    script = (
        "import hashlib, json, pathlib, sys\n"
        "from huggingface_hub import snapshot_download\n"
        "path = pathlib.Path(snapshot_download(sys.argv[1]))\n"
        "files = {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()\n"
        "         for p in path.rglob('*') if p.is_file()}\n"
        "print(json.dumps({'path': str(path), 'files': files}))\n"
    )
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    base_env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")

    def run(**env: str) -> dict:
        command = [sys.executable, "-c", script, repo_id]
        result = subprocess.run(command, env={**base_env, **env}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    # Download in this process, then reload in a fresh offline interpreter: nothing can be reached (the endpoint is
    # a closed port), so the files must resolve from the cache (refs/main -> snapshot, checked against the tree).
    cache = tmp_path / "hub-cache"
    snapshot = snapshot_download(repo_id, cache_dir=cache, endpoint=server.endpoint)
    offline = run(HF_HUB_CACHE=str(cache), HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE="1")
    assert offline["path"] == snapshot
    assert Path(offline["path"]).name == commit.oid
    assert offline["files"] == expected

    # `HF_ENDPOINT` is read when `huggingface_hub` is imported: set in a fresh interpreter's environment, it sends
    # calls without an explicit `endpoint=` (as libraries like diffusers make them) to the stand-in.
    online = run(HF_HUB_CACHE=str(tmp_path / "other-cache"), HF_ENDPOINT=server.endpoint)
    assert online["files"] == expected
