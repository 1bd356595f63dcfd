"""The remote reader's HTTP transport (`checkpoint/remote/http.py`): connections kept alive per
thread (a 200-shard checkpoint is not 230 handshakes), redirects followed without the credential,
a connection the server closed replaced, a proxy left to urllib. On 127.0.0.1 only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ckptlens.checkpoint.remote import http
from ckptlens.checkpoint.remote.store import RemoteSettings

DATA = bytes(range(256)) * 64


class _Server:
    def __init__(self, *, close_each: bool = False, drop_silently: bool = False) -> None:
        self.connections = 0
        self.drop_silently = drop_silently  # hang up after answering, without saying so
        self.requests: list[tuple[str, str | None]] = []  # path, Authorization
        self.close_each = close_each
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/moved"):
                    self.send_response(302)
                    self.send_header("Location", "/data")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/missing":
                    body = b"no"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start, end = 0, len(DATA) - 1
                spec = self.headers.get("Range")
                if spec:
                    first, last = spec.split("=", 1)[1].split("-")
                    start, end = int(first), int(last)
                body = DATA[start : end + 1]
                self.send_response(206 if spec else 200)
                self.send_header("Content-Length", str(len(body)))
                if spec:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(DATA)}")
                if server.close_each:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                if server.drop_silently:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteSettings:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return RemoteSettings(cache_dir=tmp_path, ttl=0, max_bytes=1 << 20, timeout=5, retries=0, offline=False)


def _in_a_new_thread(fn: object) -> None:
    """Each test starts with no kept connection (they are per thread)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def test_ranged_reads_share_one_connection(server: _Server, settings: RemoteSettings) -> None:
    def reads() -> None:
        for i in range(20):
            got = http.request(f"{server.url}/data", settings, byte_range=(i * 100, i * 100 + 50))
            assert got.status == 206 and got.body == DATA[i * 100 : i * 100 + 50]

    _in_a_new_thread(reads)
    assert len(server.requests) == 20
    assert server.connections == 1


def test_a_server_that_closes_each_connection_still_answers(settings: RemoteSettings) -> None:
    srv = _Server(close_each=True)
    srv.thread.start()
    try:

        def reads() -> None:
            for i in range(5):
                assert http.request(f"{srv.url}/data", settings, byte_range=(i, i + 10)).body == DATA[i : i + 10]

        _in_a_new_thread(reads)
        assert srv.connections == 5
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def test_a_kept_connection_the_server_dropped_is_replaced(settings: RemoteSettings) -> None:
    srv = _Server(drop_silently=True)  # as a server's idle time-out does
    srv.thread.start()
    try:

        def reads() -> None:
            for i in range(3):
                assert http.request(f"{srv.url}/data", settings, byte_range=(i, i + 4)).body == DATA[i : i + 4]

        _in_a_new_thread(reads)
        assert len(srv.requests) == 3 and srv.connections == 3
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def test_a_redirect_is_followed_without_the_credential(server: _Server, settings: RemoteSettings) -> None:
    def read() -> None:
        got = http.request(f"{server.url}/moved", settings, byte_range=(10, 20), auth={"Authorization": "Bearer s3cret"})
        assert got.body == DATA[10:20]

    _in_a_new_thread(read)
    assert server.requests == [("/moved", "Bearer s3cret"), ("/data", None)]


def test_an_http_error_keeps_its_status_and_message(server: _Server, settings: RemoteSettings) -> None:
    def read() -> None:
        with pytest.raises(http.RemoteError) as caught:
            http.request(f"{server.url}/missing", settings)
        assert caught.value.status == 404
        assert str(caught.value) == f"{server.url}/missing: not found (HTTP 404)"
        # the connection is still good for the next request
        assert http.request(f"{server.url}/data", settings, byte_range=(0, 3)).body == DATA[:3]

    _in_a_new_thread(read)
    assert server.connections == 1


def test_with_a_proxy_configured_urllib_makes_the_request(
    server: _Server, settings: RemoteSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # bypassed for 127.0.0.1 by no_proxy
    called = []
    original = http._once_urllib

    def spy(*args: object) -> http.Response:
        called.append(args[0])
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(http, "_once_urllib", spy)
    got = http.request(f"{server.url}/data", settings, byte_range=(0, 5))
    assert got.body == DATA[:5] and called == [f"{server.url}/data"]


def test_a_proxy_set_for_one_request_is_not_kept_for_the_process(
    server: _Server, settings: RemoteSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib's process-wide opener keeps the proxies of its first call; ckptlens never installs
    it, so a later plain `urllib.request.urlopen` (another library, the editor) still reaches
    127.0.0.1 once the proxy setting is gone."""
    import urllib.request

    with monkeypatch.context() as scoped:
        scoped.setenv("no_proxy", "127.0.0.1")
        scoped.setenv("http_proxy", "http://127.0.0.1:9")  # a dead proxy, bypassed by no_proxy
        assert http.request(f"{server.url}/data", settings, byte_range=(0, 5)).body == DATA[:5]
    with urllib.request.urlopen(f"{server.url}/data", timeout=5) as answer:
        assert answer.read() == DATA
