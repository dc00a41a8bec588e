"""A loopback stand-in for the Hugging Face Hub's file endpoints, for tests without network.

It answers ``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers
huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``), serves
byte ranges, counts requests, and can be told to fail (status codes, a cut-off body) to test
error paths. Point huggingface_hub at it with ``HF_ENDPOINT=hub.url`` and ``HF_HUB_DISABLE_XET=1``.

It also answers the calls ``HfApi.create_repo`` and ``HfApi.upload_folder`` / ``create_commit``
make (``POST /api/repos/create``, ``/api/validate-yaml``, ``/api/models/{repo}/preupload/{rev}``
and ``/api/models/{repo}/commit/{rev}``): every file is taken as a "regular" file, sent inline in
the commit, and served at the new commit and at the branch afterwards. ``hub.repos`` are the
repositories created, ``hub.commits`` the commits made (repo, revision, message, paths);
``hub.require_token`` makes the write calls answer 401 without that bearer token.

    with LoopbackHub() as hub:
        hub.add_file("timm/resnet50.a1_in1k", "model.safetensors", data)
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs

_API_WRITE = re.compile(r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit)/(?P<rev>[^/?]+)")
_RESOLVE = re.compile(r"^/(?:(?P<type>models|datasets|spaces)/)?(?P<repo>[^/]+/[^/]+|[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@attrs.define
class HubFile:
    data: bytes
    commit: str
    sha256: str
    status: int = 200
    cut_at: int | None = None  # serve only this many bytes of the body, then close
    message: str = ""


class LoopbackHub:
    """A threaded HTTP server on 127.0.0.1 with an ephemeral port."""

    def __init__(self):
        self.files: dict[tuple[str, str, str], HubFile] = {}
        self.requests: list[tuple[str, str]] = []
        self.repos: set[str] = set()
        self.commits: list[tuple[str, str, str, tuple[str, ...]]] = []
        self.require_token: str | None = None
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._serve(self, body=False)

            def do_GET(self):
                hub._serve(self, body=True)

            def do_POST(self):
                hub._post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def add_file(self, repo_id: str, filename: str, data: bytes, *, revision: str = "main",
                 commit: str | None = None, status: int = 200, cut_at: int | None = None, message: str = "",
                 etag: str | None = None) -> HubFile:
        """Serve ``data``; ``status`` makes it answer an error instead, ``cut_at`` cuts the body after
        that many bytes, ``etag`` announces another sha256 than the data's (a corrupt transfer)."""
        sha = etag or hashlib.sha256(data).hexdigest()
        commit = commit or hashlib.sha1(f"{repo_id}@{revision}:{sha}".encode()).hexdigest()
        f = HubFile(data=data, commit=commit, sha256=sha, status=status, cut_at=cut_at, message=message)
        with self._lock:
            self.files[(repo_id, revision, filename)] = f
            self.files[(repo_id, commit, filename)] = f
        return f

    def create_repo(self, repo_id: str) -> None:
        """Make ``repo_id`` exist (as ``HfApi.create_repo`` would)."""
        with self._lock:
            self.repos.add(repo_id)

    def commit(self, repo_id: str, files: dict[str, bytes], *, revision: str = "main", message: str = "") -> str:
        """Commit ``files`` (path → bytes) to ``repo_id`` at ``revision``: a new commit holding the
        branch's files and these; returns its id."""
        with self._lock:
            current = {fn: f.data for (repo, rev, fn), f in self.files.items() if repo == repo_id and rev == revision}
            parent = next((f.commit for (repo, rev, _), f in self.files.items() if repo == repo_id and rev == revision),
                          "")
            current.update(files)
            digest = hashlib.sha1(f"{repo_id}@{revision}:{parent}:{message}:{len(self.commits)}".encode())
            for path in sorted(files):
                digest.update(path.encode() + hashlib.sha256(files[path]).digest())
            commit = digest.hexdigest()
            self.repos.add(repo_id)
            self.commits.append((repo_id, revision, message, tuple(sorted(files))))
        for path, data in current.items():
            self.add_file(repo_id, path, data, revision=revision, commit=commit)
        return commit

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, _ in self.requests if method is None or m == method)

    def _serve(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path))
        m = _RESOLVE.match(handler.path.split("?", 1)[0])
        f = self.files.get((m["repo"], m["rev"], m["file"])) if m else None
        if f is None:
            self._error(handler, 404, "EntryNotFound", f"{handler.path} not found")
            return
        if f.status != 200:
            code = {401: "RepoNotFound", 403: "GatedRepo", 404: "RepoNotFound"}.get(f.status, "")
            self._error(handler, f.status, code, f.message or f"status {f.status}")
            return
        data = f.data
        start, end = 0, len(data)
        status = 200
        rng = handler.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[len("bytes="):].partition("-")
            start = int(a) if a else 0
            end = int(b) + 1 if b else len(data)
            status = 206
        handler.send_response(status)
        handler.send_header("X-Repo-Commit", f.commit)
        handler.send_header("ETag", f'"{f.sha256}"')
        handler.send_header("X-Linked-Etag", f'"{f.sha256}"')
        handler.send_header("X-Linked-Size", str(len(data)))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(end - start))
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        handler.end_headers()
        if body:
            chunk = data[start:end]
            if f.cut_at is not None:
                chunk = chunk[: max(f.cut_at - start, 0)]
                handler.close_connection = True
            try:
                handler.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        """The write API: create a repository, validate a card, preupload, commit."""
        with self._lock:
            self.requests.append((handler.command, handler.path))
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = handler.path.split("?", 1)[0]
        if self.require_token and handler.headers.get("Authorization") != f"Bearer {self.require_token}":
            self._error(handler, 401, "", "Invalid credentials in Authorization header")
        elif path == "/api/repos/create":
            self._create(handler, json.loads(body or b"{}"))
        elif path == "/api/validate-yaml":
            self._json(handler, 200, {"errors": [], "warnings": []})
        elif (m := _API_WRITE.match(path)) is None:
            self._error(handler, 404, "", f"{handler.path} not found")
        elif m["repo"] not in self.repos:
            self._error(handler, 404, "RepoNotFound", f"repository {m['repo']} not found")
        elif m["op"] == "preupload":
            files = json.loads(body or b"{}").get("files", [])
            self._json(handler, 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                                 "oid": None} for f in files]})
        else:
            self._commit(handler, m["repo"], m["rev"], body)

    def _create(self, handler, payload: dict) -> None:
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        with self._lock:
            exists = repo_id in self.repos
            self.repos.add(repo_id)
        url = f"{self.url}/{repo_id}"
        if exists:  # the Hub's 409 carries the url too: huggingface_hub reads it with exist_ok=True
            self._json(handler, 409, {"error": f"You already created this model repo: {repo_id}", "url": url})
        else:
            self._json(handler, 200, {"url": url, "name": repo_id})

    def _commit(self, handler, repo_id: str, revision: str, body: bytes) -> None:
        from urllib.parse import unquote

        revision = unquote(revision)
        files, message = {}, ""
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "header":
                message = item["value"].get("summary", "")
            elif item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            else:
                self._error(handler, 400, "", f"the loopback Hub does not take {item['key']!r} operations")
                return
        commit = self.commit(repo_id, files, revision=revision, message=message)
        self._json(handler, 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{commit}", "commitOid": commit,
                                  "pullRequestUrl": None})

    @staticmethod
    def _json(handler, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _error(handler, status: int, code: str, message: str) -> None:
        payload = json.dumps({"error": message}).encode()
        handler.send_response(status)
        if code:
            handler.send_header("X-Error-Code", code)
        handler.send_header("X-Error-Message", message)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
