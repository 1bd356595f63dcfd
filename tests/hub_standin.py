"""A local stand-in for the Hugging Face Hub (and any HTTP file server), on 127.0.0.1.

It answers the routes huggingface_hub and ckptlens use — `GET /api/models/REPO[/revision/REV]`
(with `?blobs=true` sizes) and `HEAD`/`GET /REPO/resolve/REV/PATH` with `Range` (206 and
`Content-Range`), `ETag`, `X-Repo-Commit` — plus `/files/PATH` for plain URLs, and the error
answers of the real Hub (401 RepoNotFound, 403 GatedRepo, 404 RevisionNotFound / EntryNotFound).
Files are served from disk with `os.pread`, so sparse terabyte files cost what is asked.
Every body byte sent is counted, per request, on the server side."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Repo:
    files: dict[str, str]  # path in the repo -> file on disk
    commit: str = ""
    token: str | None = None  # required bearer token (a private repo)
    gated: bool = False

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(json.dumps(sorted(self.files)).encode()).hexdigest()
            self.commit = digest


@dataclass
class Stats:
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, body bytes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, sent: int) -> None:
        with self.lock:
            self.requests.append((method, path, sent))

    @property
    def bytes_sent(self) -> int:
        with self.lock:
            return sum(n for _, _, n in self.requests)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


class HubStandIn:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.files: dict[str, str] = {}  # /files/NAME -> disk path
        self.stats = Stats()
        self.fail_next = 0  # answer that many requests 503 (with Retry-After: 0) first
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.handle(self, head=True)

            def do_GET(self) -> None:
                hub.handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- routing ------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.send_bytes(h, 503, b"busy", {"Retry-After": "0"}, head)
        parts = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(parts.path)
        query = urllib.parse.parse_qs(parts.query)
        if path.startswith("/files/"):
            disk = self.files.get(path[len("/files/") :])
            if disk is None:
                return self.error(h, 404, "EntryNotFound", "Entry not found", head)
            return self.send_file(h, disk, etag=f'"{os.stat(disk).st_mtime_ns}"', head=head)
        match = re.match(r"^/api/models/([^/]+/[^/]+|[^/]+?)(?:/revision/([^/]+))?$", path)
        if match:
            return self.model_info(h, match.group(1), match.group(2) or "main", "blobs" in query, head)
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if match:
            return self.resolve(h, match.group(1), match.group(2), match.group(3), head)
        self.error(h, 404, None, "no such route", head)

    def access(self, h: BaseHTTPRequestHandler, repo_id: str, head: bool) -> Repo | None:
        repo = self.repos.get(repo_id)
        auth = h.headers.get("Authorization", "")
        if repo is None or (repo.token and auth != f"Bearer {repo.token}"):
            self.error(h, 401, "RepoNotFound", "Repository not found", head)
            return None
        if repo.gated and auth != "Bearer accepted":
            self.error(h, 403, "GatedRepo", "Access to this model is restricted", head)
            return None
        return repo

    def model_info(self, h: BaseHTTPRequestHandler, repo_id: str, rev: str, blobs: bool, head: bool) -> None:
        repo = self.access(h, repo_id, head)
        if repo is None:
            return
        if rev not in ("main", repo.commit):
            return self.error(h, 404, "RevisionNotFound", "Invalid rev id", head)
        siblings = []
        for name, disk in sorted(repo.files.items()):
            entry: dict[str, object] = {"rfilename": name}
            if blobs:
                size = os.stat(disk).st_size
                entry["size"] = size
                entry["blobId"] = hashlib.sha1(name.encode()).hexdigest()
                if name.endswith((".safetensors", ".pt", ".ckpt", ".bin")):
                    entry["lfs"] = {"size": size, "sha256": "0" * 64, "pointerSize": 130}
            siblings.append(entry)
        body = json.dumps(
            {"_id": "x", "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": bool(repo.token),
             "gated": repo.gated, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
             "siblings": siblings}
        ).encode()
        self.send_bytes(h, 200, body, {"Content-Type": "application/json"}, head)

    def resolve(self, h: BaseHTTPRequestHandler, repo_id: str, rev: str, name: str, head: bool) -> None:
        repo = self.access(h, repo_id, head)
        if repo is None:
            return
        if rev not in ("main", repo.commit):
            return self.error(h, 404, "RevisionNotFound", "Invalid rev id", head)
        disk = repo.files.get(name)
        if disk is None:
            return self.error(h, 404, "EntryNotFound", "Entry not found", head)
        etag = '"' + hashlib.sha1(f"{repo.commit}/{name}".encode()).hexdigest() + '"'
        self.send_file(h, disk, etag=etag, head=head, extra={"X-Repo-Commit": repo.commit})

    # -- answers ------------------------------------------------------------------------

    def error(self, h: BaseHTTPRequestHandler, status: int, code: str | None, message: str, head: bool) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self.send_bytes(h, status, json.dumps({"error": message}).encode(), headers, head)

    def send_bytes(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        sent = 0
        if not head:
            h.wfile.write(body)
            sent = len(body)
        self.stats.add(h.command, h.path, sent)

    def send_file(self, h: BaseHTTPRequestHandler, disk: str, etag: str, head: bool, extra: dict[str, str] | None = None) -> None:
        size = os.stat(disk).st_size
        start, end = 0, size  # [start, end)
        status = 200
        wanted = h.headers.get("Range")
        if wanted:
            match = _RANGE.match(wanted.strip())
            if match is None or int(match.group(1)) >= size:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                self.stats.add(h.command, h.path, 0)
                return
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
            status = 206
        h.send_response(status)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("ETag", etag)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        h.send_header("Content-Length", str(end - start))
        h.end_headers()
        sent = 0
        if not head:
            fd = os.open(disk, os.O_RDONLY)
            try:
                pos = start
                while pos < end:
                    chunk = os.pread(fd, min(1 << 20, end - pos), pos)
                    if not chunk:
                        break
                    try:
                        h.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        sent += len(chunk)
                        break
                    sent += len(chunk)
                    pos += len(chunk)
            finally:
                os.close(fd)
        self.stats.add(h.command, h.path, sent)
