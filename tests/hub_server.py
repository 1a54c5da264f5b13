"""In-process stand-in for the Hugging Face Hub HTTP API, for offline tests of uploads and downloads.

The server speaks just enough of the Hub protocol for `huggingface_hub` 2.4 to run `HfApi.create_repo`,
`create_branch`, `upload_folder` / `create_commit`, `model_info` / `repo_info`, `list_repo_files` /
`list_repo_tree`, `get_paths_info`, `list_repo_refs`, `list_repo_commits`, `hf_hub_download` and
`snapshot_download` against `http://127.0.0.1:<port>`. Repositories live in a temporary directory (file contents,
addressed by their git blob sha1) plus an in-memory commit graph; every commit gets a 40-hex id and every
revision keeps its own file tree.

What is *not* exercised (differences from the real Hub):

- Authentication and authorization: any bearer token (or none) is accepted, private repositories are readable by
  everyone; the `private` flag is only stored and reported.
- LFS and Xet transfers: the preupload endpoint answers `"uploadMode": "regular"` for every file, so all contents
  (including `.safetensors` weights) arrive base64-encoded inside the NDJSON commit payload. `lfsFile` commit
  lines are rejected, and downloads never carry `X-Xet-Hash` / `X-Linked-*` headers, so the LFS/Xet code paths of
  `huggingface_hub` (upload to S3/CAS, redirects to a CDN) are never taken. With `hf_xet` installed,
  `upload_folder` goes through `huggingface_hub`'s pipelined uploader (a new commit every ~250 files or every
  100 MB of inline content, suffixed " (part N)", so a small folder is still one commit); without `hf_xet`,
  through `create_commit`. Both end at the same preupload and commit endpoints.
- Pull requests (`create_pr=True`), tags, gated repos, repo renames, pagination (every listing fits in one page),
  `expand=True` tree listings and server-side `.gitignore` handling.
- Repository ids must be namespaced (`namespace/name`); `create_repo("name")` creates `<user>/name`.

Like the real Hub, a new repository starts with an "initial commit" holding a `.gitattributes` file, the preupload
endpoint reports the blob id of files that already exist (so unchanged files are skipped by the client), and a
commit to a branch that does not exist fails with `RevisionNotFound`: create the branch first with
`HfApi.create_branch`.

Example:

```python
>>> from huggingface_hub import HfApi
>>> with HubServer() as server:
...     api = HfApi(endpoint=server.endpoint, token="hf_test")
...     api.create_repo("user/demo", exist_ok=True)
...     api.upload_folder(folder_path="my_model", repo_id="user/demo", commit_message="Add model")
...     server.repo_files("user/demo")  # {".gitattributes": b"...", "config.json": b"...", ...}
```

`HF_ENDPOINT` is read when `huggingface_hub` is imported: pass `endpoint=server.endpoint` explicitly to `HfApi`,
`hf_hub_download` and `snapshot_download`, or run a subprocess with `HF_ENDPOINT` set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubServer", "git_blob_sha1"]

DEFAULT_USER = "test-user"
DEFAULT_BRANCH = "main"
# URL segment of the API routes (`/api/{segment}/...`) -> repo type, and repo type -> prefix of the resolve URLs.
_API_SEGMENTS = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_COMMIT_OID = re.compile(r"^[0-9a-f]{40}$")
_INITIAL_GITATTRIBUTES = b"""*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


def git_blob_sha1(data: bytes) -> str:
    """Return the git blob id of `data`: the id the Hub uses as ETag and `oid` of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An HTTP error answered by the stand-in, with the `X-Error-Code` header that `huggingface_hub` maps."""

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}
        self.extra = extra or {}  # additional fields of the JSON error body


@dataclass
class _Commit:
    oid: str
    revision: str
    message: str
    description: str
    parents: list[str]
    tree: dict[str, str]  # path in repo -> blob id
    added: list[str]
    deleted: list[str]
    date: str


@dataclass
class _Repo:
    repo_id: str
    repo_type: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> head commit id
    commits: dict[str, _Commit] = field(default_factory=dict)  # commit id -> commit
    history: list[str] = field(default_factory=list)  # commit ids in creation order

    @property
    def url_path(self) -> str:
        return _URL_PREFIXES[self.repo_type] + self.repo_id


class _HubStore:
    """Thread-safe storage of repositories, commits and blobs."""

    def __init__(self, root: Path, user: str):
        self.root = root
        self.user = user
        self.blob_dir = root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.lock = threading.RLock()

    # -- blobs ------------------------------------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        oid = git_blob_sha1(data)
        path = self.blob_dir / oid
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return oid

    def blob_path(self, oid: str) -> Path:
        return self.blob_dir / oid

    def blob_size(self, oid: str) -> int:
        return self.blob_path(oid).stat().st_size

    def read_blob(self, oid: str) -> bytes:
        return self.blob_path(oid).read_bytes()

    # -- repos and revisions ----------------------------------------------------------------------------------------

    def get_repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository {repo_id!r} ({repo_type}) not found.", "RepoNotFound")
        return repo

    def resolve(self, repo: _Repo, revision: str) -> _Commit:
        if revision in repo.branches:
            return repo.commits[repo.branches[revision]]
        if _COMMIT_OID.match(revision) and revision in repo.commits:
            return repo.commits[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> tuple[_Repo, bool]:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return self.repos[(repo_type, repo_id)], False
            repo = _Repo(repo_id=repo_id, repo_type=repo_type, private=private, created_at=_now_iso())
            self.repos[(repo_type, repo_id)] = repo
            blob = self.put_blob(_INITIAL_GITATTRIBUTES)
            self._add_commit(
                repo, DEFAULT_BRANCH, "initial commit", "", [], {".gitattributes": blob}, [".gitattributes"], []
            )
            return repo, True

    def _add_commit(
        self,
        repo: _Repo,
        branch: str,
        message: str,
        description: str,
        parents: list[str],
        tree: dict[str, str],
        added: list[str],
        deleted: list[str],
    ) -> _Commit:
        seed = json.dumps([repo.repo_type, repo.repo_id, parents, sorted(tree.items()), message, uuid.uuid4().hex])
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = _Commit(
            oid=oid,
            revision=branch,
            message=message,
            description=description,
            parents=parents,
            tree=tree,
            added=sorted(added),
            deleted=sorted(deleted),
            date=_now_iso(),
        )
        repo.commits[oid] = commit
        repo.history.append(oid)
        repo.branches[branch] = oid
        return commit

    def commit(self, repo: _Repo, branch: str, lines: list[dict]) -> _Commit:
        """Apply the operations of an NDJSON commit payload to `branch` and record a new commit."""
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch} (create the branch first)", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            if not lines or lines[0].get("key") != "header":
                raise HubError(400, "The first line of a commit payload must be the 'header'.")
            header = lines[0].get("value") or {}
            summary = header.get("summary") or ""
            if not summary:
                raise HubError(400, "The commit header needs a non-empty 'summary'.")
            parent = header.get("parentCommit")
            if parent is not None and parent != head.oid:
                raise HubError(412, f"Parent commit {parent} is not the head of {branch!r} ({head.oid}).")

            tree = dict(head.tree)
            added: list[str] = []
            deleted: list[str] = []
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path")
                if not isinstance(path, str) or not path or path.startswith("/"):
                    raise HubError(400, f"Invalid path in commit operation {key!r}: {path!r}.")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"Unsupported encoding {value.get('encoding')!r} for {path!r}.")
                    tree[path] = self.put_blob(base64.b64decode(value.get("content", "")))
                    added.append(path)
                elif key == "deletedFile":
                    if path not in tree:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del tree[path]
                    deleted.append(path)
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    removed = [name for name in tree if name.startswith(prefix)]
                    if not removed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for name in removed:
                        del tree[name]
                    deleted.extend(removed)
                elif key == "lfsFile":
                    raise HubError(
                        400,
                        f"LFS uploads are not supported by the test stand-in ({path!r}); it answers 'regular' to "
                        "every preupload request.",
                    )
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}.")
            return self._add_commit(
                repo, branch, summary, header.get("description") or "", [head.oid], tree, added, deleted
            )

    def create_branch(self, repo: _Repo, branch: str, starting_point: str | None) -> None:
        with self.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = self.resolve(repo, starting_point or DEFAULT_BRANCH)
            repo.branches[branch] = start.oid

    def delete_branch(self, repo: _Repo, branch: str) -> None:
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if branch == DEFAULT_BRANCH:
                raise HubError(403, f"Cannot delete the default branch {DEFAULT_BRANCH!r}.")
            del repo.branches[branch]


def _tree_entries(store: _HubStore, commit: _Commit, prefix: str, recursive: bool) -> list[dict]:
    """List the files and folders of `commit` under `prefix` (the repo root when empty), like `/tree`."""
    base = prefix.strip("/")
    base_slash = base + "/" if base else ""
    files: dict[str, str] = {}
    folders: set[str] = set()
    for path, oid in commit.tree.items():
        if not path.startswith(base_slash):
            continue
        relative = path[len(base_slash) :]
        parts = relative.split("/")
        if recursive:
            files[path] = oid
            for depth in range(1, len(parts)):
                folders.add(base_slash + "/".join(parts[:depth]))
        elif len(parts) == 1:
            files[path] = oid
        else:
            folders.add(base_slash + parts[0])
    if base and not files and not folders:
        if base in commit.tree:  # the path is a file: the Hub lists it alone
            return [_file_entry(store, base, commit.tree[base])]
        raise HubError(404, f"Entry not found: {base}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
    entries = [_folder_entry(commit, folder) for folder in sorted(folders)]
    entries += [_file_entry(store, path, oid) for path, oid in sorted(files.items())]
    return entries


def _file_entry(store: _HubStore, path: str, oid: str) -> dict:
    return {"type": "file", "oid": oid, "size": store.blob_size(oid), "path": path}


def _folder_entry(commit: _Commit, folder: str) -> dict:
    listing = sorted((path, oid) for path, oid in commit.tree.items() if path.startswith(folder + "/"))
    return {
        "type": "directory",
        "oid": hashlib.sha1(json.dumps(listing).encode()).hexdigest(),
        "size": 0,
        "path": folder,
    }


def _card_metadata(store: _HubStore, commit: _Commit) -> dict | None:
    """Parse the YAML front matter of the README.md of `commit`, if any (as the Hub's `cardData`)."""
    oid = commit.tree.get("README.md")
    if oid is None:
        return None
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with the test environment
        return None
    text = store.read_blob(oid).decode("utf-8", errors="replace")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if match is None:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: _HubHTTPServer

    # -- plumbing ---------------------------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass  # requests are recorded in `HubServer.requests` instead of printed

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type: str | None = None):
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.server.record(self.command, self.path, status)

    def _send_json(self, data: Any, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data, default=str).encode(), headers, "application/json; charset=utf-8")

    def _send_error(self, error: HubError) -> None:
        headers = dict(error.headers)
        if error.error_code:
            headers["X-Error-Code"] = error.error_code
        headers["X-Error-Message"] = error.message.encode("ascii", "replace").decode()
        self._send_json({"error": error.message, **error.extra}, error.status, headers)

    def _dispatch(self) -> None:
        body = self._read_body()
        try:
            with self.store.lock:  # requests are served one at a time: simple and consistent
                self._route(body)
        except HubError as error:
            self._send_error(error)
        except Exception as error:  # surface server bugs as 500s instead of hanging the client
            self._send_error(HubError(500, f"Internal stand-in error: {error!r}"))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    @property
    def store(self) -> _HubStore:
        return self.server.store

    # -- routing ----------------------------------------------------------------------------------------------------

    def _route(self, body: bytes) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        raw = [segment for segment in url.path.split("/") if segment]
        segments = [unquote(segment) for segment in raw]
        method = self.command

        if segments[:2] == ["api", "whoami-v2"] and method == "GET":
            return self._send_json(self._whoami())
        if segments[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo(_json(body))
        if segments[:3] == ["api", "repos", "delete"] and method == "DELETE":
            return self._delete_repo(_json(body))
        if segments[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml(_json(body))
        if len(segments) >= 4 and segments[0] == "api" and segments[1] in _API_SEGMENTS:
            repo_type = _API_SEGMENTS[segments[1]]
            repo = self.store.get_repo(repo_type, f"{segments[2]}/{segments[3]}")
            return self._repo_api(repo, method, segments[4:], query, body)

        repo_type = "model"
        if segments and segments[0] in _API_SEGMENTS and segments[0] != "models":
            repo_type, segments = _API_SEGMENTS[segments[0]], segments[1:]
        if len(segments) >= 5 and segments[2] == "resolve" and method in ("GET", "HEAD"):
            repo = self.store.get_repo(repo_type, f"{segments[0]}/{segments[1]}")
            return self._resolve(repo, segments[3], "/".join(segments[4:]))
        raise HubError(404, f"No stand-in route for {method} {url.path}")

    def _repo_api(self, repo: _Repo, method: str, rest: list[str], query: dict, body: bytes) -> None:
        action = rest[0] if rest else None
        if method == "GET" and action is None:
            return self._send_json(self._info(repo, DEFAULT_BRANCH, query))
        if method == "GET" and action == "revision" and len(rest) == 2:
            return self._send_json(self._info(repo, rest[1], query))
        if method == "GET" and action == "tree" and len(rest) >= 2:
            commit = self.store.resolve(repo, rest[1])
            recursive = query.get("recursive", "false").lower() in ("1", "true")
            return self._send_json(_tree_entries(self.store, commit, "/".join(rest[2:]), recursive))
        if method == "POST" and action == "paths-info" and len(rest) == 2:
            return self._paths_info(repo, rest[1], body)
        if method == "POST" and action == "preupload" and len(rest) == 2:
            return self._preupload(repo, rest[1], _json(body))
        if method == "POST" and action == "commit" and len(rest) == 2:
            return self._commit(repo, rest[1], query, body)
        if action == "branch" and len(rest) == 2 and method in ("POST", "DELETE"):
            if method == "POST":
                self.store.create_branch(repo, rest[1], (_json(body) or {}).get("startingPoint"))
            else:
                self.store.delete_branch(repo, rest[1])
            return self._send_json({})
        if method == "GET" and action == "refs":
            return self._send_json(self._refs(repo, "include_prs" in query))
        if method == "GET" and action == "commits" and len(rest) == 2:
            return self._send_json(self._commit_log(repo, rest[1]))
        if method == "PUT" and action == "settings":
            return self._settings(repo, _json(body))
        raise HubError(404, f"No stand-in route for {method} /api/{repo.repo_type}s/{repo.repo_id}/{'/'.join(rest)}")

    # -- endpoints --------------------------------------------------------------------------------------------------

    def _whoami(self) -> dict:
        user = self.store.user
        return {
            "type": "user",
            "id": hashlib.sha1(user.encode()).hexdigest()[:24],
            "name": user,
            "fullname": "Stand-in Test User",
            "email": f"{user}@example.com",
            "emailVerified": True,
            "isPro": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "stand-in", "role": "write"}},
        }

    def _create_repo(self, payload: dict) -> None:
        name = payload.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIXES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        repo_id = f"{payload.get('organization') or self.store.user}/{name}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo, created = self.store.create_repo(repo_type, repo_id, private)
        url = f"{self.server.endpoint}/{repo.url_path}"
        if not created:
            # `create_repo(..., exist_ok=True)` reads the `url` of the 409 answer.
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, payload: dict) -> None:
        repo_id = f"{payload.get('organization') or self.store.user}/{payload.get('name')}"
        repo_type = payload.get("type") or "model"
        with self.store.lock:
            self.store.get_repo(repo_type, repo_id)
            del self.store.repos[(repo_type, repo_id)]
        self._send_json({})

    def _validate_yaml(self, payload: dict) -> None:
        content = payload.get("content") or ""
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.DOTALL)
        if match is not None:
            import yaml

            try:
                metadata = yaml.safe_load(match.group(1))
            except yaml.YAMLError as error:
                return self._send_json({"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []}, 400)
            if metadata is not None and not isinstance(metadata, dict):
                return self._send_json({"errors": [{"message": "Metadata must be a YAML mapping."}]}, 400)
        self._send_json({"errors": [], "warnings": []})

    def _info(self, repo: _Repo, revision: str, query: dict) -> dict:
        commit = self.store.resolve(repo, revision)
        blobs = query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path, oid in sorted(commit.tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=self.store.blob_size(oid), blobId=oid)
            siblings.append(sibling)
        card_data = _card_metadata(self.store, commit)
        namespace = repo.repo_id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": namespace,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list((card_data or {}).get("tags") or []),
            "siblings": siblings,
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
            if card_data is not None:
                info["library_name"] = card_data.get("library_name")
                info["pipeline_tag"] = card_data.get("pipeline_tag")
        if card_data is not None:
            info["cardData"] = card_data
        return info

    def _paths_info(self, repo: _Repo, revision: str, body: bytes) -> None:
        commit = self.store.resolve(repo, revision)
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = _json(body).get("paths") or []
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        entries = []
        for path in paths:
            path = path.strip("/")
            if path in commit.tree:
                entries.append(_file_entry(self.store, path, commit.tree[path]))
            elif any(name.startswith(path + "/") for name in commit.tree):
                entries.append(_folder_entry(commit, path))
        self._send_json(entries)

    def _preupload(self, repo: _Repo, revision: str, payload: dict) -> None:
        commit = self.store.resolve(repo, revision)
        files = payload.get("files")
        if not isinstance(files, list):
            raise HubError(400, "The preupload payload needs a 'files' list.")
        answer = [
            {
                "path": item["path"],
                "uploadMode": "regular",  # never "lfs": contents come inline with the commit (see module docstring)
                "shouldIgnore": False,
                "oid": commit.tree.get(item["path"]),
            }
            for item in files
        ]
        self._send_json({"files": answer, "commitOid": commit.oid})

    def _commit(self, repo: _Repo, revision: str, query: dict, body: bytes) -> None:
        if query.get("create_pr") not in (None, "", "0", "false"):
            raise HubError(400, "Pull requests (create_pr=1) are not supported by the test stand-in.")
        try:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise HubError(400, f"Invalid NDJSON commit payload: {error}") from error
        commit = self.store.commit(repo, revision, lines)
        self._send_json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.server.endpoint}/{repo.url_path}/commit/{commit.oid}",
                "hookOutput": "",
            }
        )

    def _refs(self, repo: _Repo, include_prs: bool) -> dict:
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid} for name, oid in repo.branches.items()
        ]
        refs: dict[str, Any] = {"branches": branches, "tags": [], "converts": []}
        if include_prs:
            refs["pullRequests"] = []
        return refs

    def _commit_log(self, repo: _Repo, revision: str) -> list[dict]:
        commit: _Commit | None = self.store.resolve(repo, revision)
        log = []
        while commit is not None:
            log.append(
                {
                    "id": commit.oid,
                    "title": commit.message,
                    "message": commit.description,
                    "authors": [{"user": self.store.user}],
                    "date": commit.date,
                }
            )
            commit = repo.commits[commit.parents[0]] if commit.parents else None
        return log

    def _settings(self, repo: _Repo, payload: dict) -> None:
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        if "private" in payload:
            repo.private = bool(payload["private"])
        self._send_json({})

    def _resolve(self, repo: _Repo, revision: str, path: str) -> None:
        commit = self.store.resolve(repo, revision)
        oid = commit.tree.get(path)
        if oid is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        size = self.store.blob_size(oid)
        headers = {
            "ETag": f'"{oid}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{Path(path).name}"',
        }
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{size}"
                raise HubError(416, f"Range not satisfiable: {range_header}", headers=headers)
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(end - start + 1, 0))
        body = b"" if self.command == "HEAD" else self.store.read_blob(oid)[start : end + 1]
        self._send(status, body, headers, "application/octet-stream")


def _json(body: bytes) -> dict:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise HubError(400, f"Invalid JSON body: {error}") from error
    if not isinstance(data, dict):
        raise HubError(400, "The JSON body must be an object.")
    return data


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single `bytes=` range; returns inclusive `(start, end)` or `None` when unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):  # suffix range: the last N bytes
        length = int(match.group(2))
        return (max(size - length, 0), size - 1) if length > 0 and size > 0 else None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: _HubStore):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[dict] = []
        self._requests_lock = threading.Lock()

    def record(self, method: str, path: str, status: int) -> None:
        with self._requests_lock:
            self.requests.append({"method": method, "path": path, "status": status, "time": time.time()})


class HubServer:
    """
    A local, Hub-compatible HTTP server running in a background thread, for tests.

    Args:
        user (`str`, *optional*, defaults to `"test-user"`):
            Name returned by `/api/whoami-v2`, and namespace of repositories created without one.
        storage_dir (`str` or `Path`, *optional*):
            Directory holding the file contents. Defaults to a temporary directory removed by `stop()`.

    Example:

    ```python
    >>> with HubServer() as server:
    ...     api = HfApi(endpoint=server.endpoint)
    ...     api.create_repo("user/demo")
    ...     server.commits("user/demo")[0]["message"]
    'initial commit'
    ```
    """

    def __init__(self, *, user: str = DEFAULT_USER, storage_dir: str | Path | None = None):
        self.user = user
        self._storage_dir = Path(storage_dir) if storage_dir is not None else None
        self._tmp: str | None = None
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> HubServer:
        """Start serving on a free port of 127.0.0.1; returns `self`."""
        if self._httpd is not None:
            return self
        if self._storage_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="hub-stand-in-")
            root = Path(self._tmp)
        else:
            root = self._storage_dir
        self._httpd = _HubHTTPServer(_HubStore(root, self.user))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and remove its temporary storage."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._httpd = None
            self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection -------------------------------------------------------------------------------------------------

    @property
    def _running(self) -> _HubHTTPServer:
        if self._httpd is None:
            raise RuntimeError("The HubServer is not running: use it as a context manager or call `start()`.")
        return self._httpd

    @property
    def endpoint(self) -> str:
        """Base URL to pass as `endpoint=` to `huggingface_hub`, e.g. `"http://127.0.0.1:54321"`."""
        return self._running.endpoint

    @property
    def requests(self) -> list[dict]:
        """Every request answered so far, as `{"method", "path", "status", "time"}` dicts (the server log)."""
        with self._running._requests_lock:
            return list(self._running.requests)

    def _repo(self, repo_id: str, repo_type: str) -> _Repo:
        try:
            return self._running.store.get_repo(repo_type, repo_id)
        except HubError as error:
            raise KeyError(f"No {repo_type} repository {repo_id!r} on the stand-in server.") from error

    def repo_files(self, repo_id: str, revision: str = DEFAULT_BRANCH, repo_type: str = "model") -> dict[str, bytes]:
        """Return `{path: content}` of every file of `repo_id` at `revision` (a branch name or commit id)."""
        store = self._running.store
        with store.lock:
            commit = store.resolve(self._repo(repo_id, repo_type), revision)
            return {path: store.read_blob(oid) for path, oid in sorted(commit.tree.items())}

    def commits(self, repo_id: str, repo_type: str = "model") -> list[dict]:
        """
        Return every commit of `repo_id`, oldest first, including the repository's "initial commit".

        Each commit is a dict with `oid`, `revision` (branch it was made on), `message`, `description`, `parents`,
        `files` (paths added or updated by the commit), `deleted` (paths removed) and `tree` (all paths after it).
        """
        store = self._running.store
        with store.lock:
            repo = self._repo(repo_id, repo_type)
            return [
                {
                    "oid": commit.oid,
                    "revision": commit.revision,
                    "message": commit.message,
                    "description": commit.description,
                    "parents": list(commit.parents),
                    "files": list(commit.added),
                    "deleted": list(commit.deleted),
                    "tree": sorted(commit.tree),
                }
                for commit in (repo.commits[oid] for oid in repo.history)
            ]

    def branches(self, repo_id: str, repo_type: str = "model") -> dict[str, str]:
        """Return `{branch: head commit id}` of `repo_id`."""
        with self._running.store.lock:
            return dict(self._repo(repo_id, repo_type).branches)

    def is_private(self, repo_id: str, repo_type: str = "model") -> bool:
        """Return the stored `private` flag of `repo_id`."""
        return self._repo(repo_id, repo_type).private
