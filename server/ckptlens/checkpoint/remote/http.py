"""Ranged HTTP(S) reads with the standard library: time-outs, retries with back-off, one-line
errors. A credential travels only as an unredirected header (never to the host a redirect
leads to) and never appears in a message: URLs are shown without their user part or query."""

from __future__ import annotations

import functools
import io
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.remote.store import RemoteSettings

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = "ckptlens (header-only checkpoint reader)"


class RemoteError(CheckpointError):
    """A remote read failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code  # the Hub's `X-Error-Code` (GatedRepo, RepoNotFound, ...)


class RemoteUnavailable(RemoteError):
    """No answer at all (offline, unknown host, time-out): the reference may well be fine."""


def shown_url(url: str) -> str:
    """`url` without user, password, query or fragment: safe in any message."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def status_message(status: int, shown: str, hint: str = "") -> str:
    what = {
        401: "authentication required (HTTP 401)",
        403: "access denied (HTTP 403)",
        404: "not found (HTTP 404)",
        416: "the server refused the byte range (HTTP 416)",
    }.get(status, f"the server answered HTTP {status}")
    return f"{shown}: {what}{hint if status in (401, 403) else ''}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes


def request(
    url: str,
    settings: RemoteSettings,
    *,
    method: str = "GET",
    byte_range: tuple[int, int] | None = None,  # [start, end)
    auth: Mapping[str, str] | None = None,
    shown: str | None = None,
    hint: str = "",
) -> Response:
    """One request, retried on time-outs, connection failures, 429 and 5xx."""
    shown = shown or shown_url(url)
    attempt = 0
    while True:
        try:
            return _once(url, settings, method, byte_range, auth or {}, shown)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in _RETRY_STATUS and attempt < settings.retries:
                _back_off(attempt, exc.headers.get("Retry-After"))
                attempt += 1
                continue
            code = exc.headers.get("X-Error-Code") if exc.headers else None
            raise RemoteError(status_message(exc.code, shown, hint), exc.code, code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            unknown_host = isinstance(getattr(exc, "reason", None), socket.gaierror)
            if attempt < settings.retries and not unknown_host:
                _back_off(attempt, None)
                attempt += 1
                continue
            reason = getattr(exc, "reason", None) or exc
            text = "timed out" if isinstance(reason, TimeoutError) else str(reason)
            text = getattr(reason, "strerror", None) or text
            raise RemoteUnavailable(f"{shown}: cannot reach it ({text})") from None


def _back_off(attempt: int, retry_after: str | None) -> None:
    try:
        delay = min(float(retry_after), 10.0) if retry_after else 0.0
    except ValueError:
        delay = 0.0
    time.sleep(delay or (0.2 * 2**attempt) * (0.5 + random.random()))


# -- kept-alive connections -------------------------------------------------------------------
#
# A checkpoint of 200 shards costs ~230 requests; a new connection for each (urllib's way) adds
# a TCP (and TLS) handshake to every one of them. Each reader thread keeps one connection per
# host and reuses it; redirects are followed here (the credential never sent on to where one
# leads, as urllib's unredirected headers). With a proxy configured, urllib does it all.

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_MAX_REDIRECTS = 10
_local = threading.local()


def _proxied() -> bool:
    return any(os.environ.get(n) or os.environ.get(n.upper()) for n in _PROXY_VARIABLES)


@functools.lru_cache(maxsize=1)
def _tls() -> Any:
    import ssl

    return ssl.create_default_context()


def _connection(scheme: str, netloc: str, timeout: float) -> tuple[Any, bool]:
    """This thread's connection to `netloc` (and whether it was used before)."""
    import http.client

    pool: dict[tuple[str, str], Any] = _local.__dict__.setdefault("pool", {})
    conn = pool.get((scheme, netloc))
    if conn is not None:
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True
    if scheme == "https":
        conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=_tls())
    else:
        conn = http.client.HTTPConnection(netloc, timeout=timeout)
    pool[(scheme, netloc)] = conn
    return conn, False


def _quick_ack(conn: Any) -> None:
    """Acknowledge the response's first segment at once (Linux): a server that writes headers
    and body apart without TCP_NODELAY otherwise holds the body until the client's delayed
    acknowledgement, up to 40 ms per request on a kept-alive connection."""
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is not None and conn.sock is not None:
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, option, 1)
        except OSError:
            pass


def _drop(scheme: str, netloc: str) -> None:
    conn = _local.__dict__.get("pool", {}).pop((scheme, netloc), None)
    if conn is not None:
        conn.close()


def _exchange(
    url: str, method: str, headers: dict[str, str], timeout: float
) -> tuple[str, Any]:
    """Send one request on a kept-alive connection; the response (headers read) and its
    connection's key. A reused connection the server has closed meanwhile is replaced once."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise urllib.error.URLError(f"unsupported URL {shown_url(url)}")
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    for _ in range(2):
        conn, reused = _connection(parts.scheme, netloc, timeout)
        try:
            conn.request(method, target, headers=headers)
            _quick_ack(conn)
            return netloc, conn.getresponse()
        except TimeoutError:
            _drop(parts.scheme, netloc)
            raise
        except (http.client.RemoteDisconnected, http.client.BadStatusLine, OSError) as exc:
            _drop(parts.scheme, netloc)  # a kept connection the server closed meanwhile: once more
            if not reused:
                if isinstance(exc, OSError):
                    raise
                raise ConnectionError(str(exc) or "the server closed the connection") from None
        except BaseException:
            _drop(parts.scheme, netloc)
            raise
    raise ConnectionError("the server closed the connection")


def _once(
    url: str,
    settings: RemoteSettings,
    method: str,
    byte_range: tuple[int, int] | None,
    auth: Mapping[str, str],
    shown: str,
) -> Response:
    if _proxied():
        return _once_urllib(url, settings, method, byte_range, auth, shown)
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if byte_range is not None:
        headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
    current, extra = url, dict(auth)  # the credential: the first request only
    for _ in range(_MAX_REDIRECTS + 1):
        scheme = urllib.parse.urlsplit(current).scheme
        netloc, resp = _exchange(current, method, {**headers, **extra}, settings.timeout)
        status = resp.status
        if status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            resp.read()  # the connection is reused: the body must be consumed
            if resp.will_close:
                _drop(scheme, netloc)
            current, extra = urllib.parse.urljoin(current, resp.getheader("Location")), {}
            continue
        if status >= 400:
            body = resp.read()
            if resp.will_close:
                _drop(scheme, netloc)
            raise urllib.error.HTTPError(current, status, resp.reason, resp.headers, io.BytesIO(body))
        try:
            if method == "HEAD":
                resp.read()
                return Response(status, resp.headers, b"")
            if byte_range is None:
                return Response(status, resp.headers, resp.read())
            wanted = byte_range[1] - byte_range[0]
            if status == 200 and byte_range[0] != 0:
                raise RemoteError(
                    f"{shown}: the server does not support ranged reads (it sent the whole file)"
                )
            if status == 200:  # the whole file from offset 0: take what was asked and hang up
                body = _read_exactly(resp, wanted)
                _drop(scheme, netloc)
                return Response(206, resp.headers, body)
            if resp.length is not None and resp.length <= wanted + (64 << 10):
                return Response(206, resp.headers, resp.read()[:wanted])  # all read: kept alive
            return Response(206, resp.headers, _read_exactly(resp, wanted))  # dropped below
        finally:
            if resp.will_close or not resp.isclosed():
                _drop(scheme, netloc)
    raise urllib.error.URLError(f"more than {_MAX_REDIRECTS} redirects")


def _once_urllib(
    url: str,
    settings: RemoteSettings,
    method: str,
    byte_range: tuple[int, int] | None,
    auth: Mapping[str, str],
    shown: str,
) -> Response:
    req = urllib.request.Request(url, method=method)
    req.add_header("User-Agent", _USER_AGENT)
    req.add_header("Accept-Encoding", "identity")
    for name, value in auth.items():
        req.add_unredirected_header(name, value)  # not sent on to where a redirect leads
    if byte_range is not None:
        req.add_header("Range", f"bytes={byte_range[0]}-{byte_range[1] - 1}")
    # A fresh opener per request: `urllib.request.urlopen` keeps a process-wide opener whose
    # proxies are the ones set at its first call (an editor's or a test's later settings unseen).
    opener = urllib.request.build_opener()
    with opener.open(req, timeout=settings.timeout) as resp:
        status = resp.status
        if method == "HEAD":
            return Response(status, resp.headers, b"")
        if byte_range is None:
            return Response(status, resp.headers, resp.read())
        wanted = byte_range[1] - byte_range[0]
        if status == 200 and byte_range[0] != 0:
            raise RemoteError(
                f"{shown}: the server does not support ranged reads (it sent the whole file)"
            )
        # a 200 from offset 0 is the whole file: take what was asked and hang up
        return Response(206, resp.headers, _read_exactly(resp, wanted))


def _read_exactly(resp: object, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = resp.read(min(n, 1 << 20))  # type: ignore[attr-defined]
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def total_size(resp: Response) -> int | None:
    """The object's size from `Content-Range: bytes a-b/N` or, for a HEAD, `Content-Length`."""
    content_range = resp.headers.get("Content-Range", "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None
