"""Ranged HTTP(S) reads with the standard library: time-outs, retries with back-off, one-line
errors. A credential travels only as an unredirected header (never to the host a redirect
leads to) and never appears in a message: URLs are shown without their user part or query."""

from __future__ import annotations

import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message

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


def _once(
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
    with urllib.request.urlopen(req, timeout=settings.timeout) as resp:
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
