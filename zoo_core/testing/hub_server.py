"""A loopback stand-in for the Hugging Face Hub's file endpoints, for tests without network.

It answers ``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers
huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``), serves
byte ranges, counts requests, and can be told to fail (status codes, a cut-off body) to test
error paths. Point huggingface_hub at it with ``HF_ENDPOINT=hub.url`` and ``HF_HUB_DISABLE_XET=1``.

    with LoopbackHub() as hub:
        hub.add_file("timm/resnet50.a1_in1k", "model.safetensors", data)
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs

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
