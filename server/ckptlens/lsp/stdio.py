"""The server's stdio transport: JSON-RPC frames read defensively.

pygls' own reader trusts the `Content-Length` header: a non-numeric one makes it read the body
as headers, a huge one makes it allocate (and wait for) that many bytes, and either desyncs the
stream. Here:

* a frame whose header is malformed (no or non-numeric `Content-Length`, a header line over
  8 KiB, more than 32 header lines) or whose length is over `MAX_FRAME` ends the session
  cleanly: where the next frame starts cannot be known, so nothing after it is trusted. The
  reason goes to stderr and the process exits with status 1;
* a body is read in chunks as it arrives (never allocated at the claimed size); a stream that
  ends inside a body ends the session like EOF;
* a body that is not JSON is skipped with a -32700 Parse error reply (id null); a request
  whose params do not fit the method's types (a position line of 10**12, a negative one, a
  string for a number) gets a -32602 InvalidParams reply instead of silence; a notification
  with such params is logged and skipped.

Frames are read on a daemon thread, so the event loop never waits on stdin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from typing import Any, BinaryIO, Protocol

from pygls.exceptions import JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

MAX_FRAME = 256 * 1024 * 1024
MAX_HEADER_LINE = 8192
MAX_HEADERS = 32
CHUNK = 1 << 20

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

log = logging.getLogger(__name__)


class FdReader:
    """`readline(limit)` and `read(n)` over a file descriptor with a buffer of our own.

    Not `sys.stdin.buffer`: the reading thread is a daemon blocked in a read when the client
    sends `exit`, and a daemon holding a BufferedReader's lock at interpreter shutdown aborts
    the process ("could not acquire lock for <stdin>"). A bare `os.read` holds no lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = os.read(self.fd, CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def readline(self, limit: int) -> bytes:
        start = 0
        while True:
            end = self.buffer.find(b"\n", start, limit)
            if end >= 0:
                return self._take(end + 1)
            if len(self.buffer) >= limit:
                return self._take(limit)
            start = len(self.buffer)
            if not self._fill():
                return self._take(len(self.buffer))

    def read(self, n: int) -> bytes:
        if not self.buffer:
            self._fill()
        return self._take(min(n, len(self.buffer)))

    def _take(self, n: int) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out


class Malformed(Exception):
    """A frame the stream cannot be resynchronised after."""


class Stream(Protocol):
    def readline(self, limit: int, /) -> bytes: ...
    def read(self, n: int, /) -> bytes: ...


def read_frame(stream: Stream, max_frame: int = MAX_FRAME) -> bytes | None:
    """The next frame's body, or None at the end of the stream. Raises `Malformed`."""
    length: int | None = None
    lines = 0
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) >= MAX_HEADER_LINE:
                raise Malformed(f"a header line longer than {MAX_HEADER_LINE} bytes")
            return None  # the stream ended inside a header
        text = line.strip()
        if not text:
            if length is None:
                if lines == 0:
                    continue  # a stray blank line between frames
                raise Malformed("a frame without a Content-Length header")
            break
        lines += 1
        if lines > MAX_HEADERS:
            raise Malformed(f"a frame with more than {MAX_HEADERS} header lines")
        name, sep, value = text.partition(b":")
        if not sep:
            raise Malformed(f"a header line that is not `Name: value`: {_show(text)}")
        if name.strip().lower() == b"content-length":
            digits = value.strip()
            if not digits.isdigit() or len(digits) > 15:
                raise Malformed(f"a Content-Length that is not a byte count: {_show(digits)}")
            length = int(digits)
            if length > max_frame:
                raise Malformed(
                    f"a Content-Length of {length:,} bytes, over the {max_frame:,}-byte limit"
                )
    chunks = []
    remaining = length
    while remaining:
        chunk = stream.read(min(remaining, CHUNK))
        if not chunk:
            return None  # the stream ended inside a body
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _show(raw: bytes) -> str:
    text = raw[:80].decode("ascii", errors="backslashreplace")
    return repr(text) + ("…" if len(raw) > 80 else "")


def _reply_error(server: LanguageServer, msg_id: Any, code: int, message: str) -> None:
    if isinstance(msg_id, bool) or not isinstance(msg_id, int | str):
        msg_id = None
    # A plain object: lsprotocol's converter would drop `"id": null`, which JSON-RPC requires.
    server.protocol._send_data(  # noqa: SLF001 - pygls has no public way to answer an error
        {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
    )


def handle_body(server: LanguageServer, body: bytes) -> None:
    protocol = server.protocol
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        _reply_error(server, None, PARSE_ERROR, f"the message is not JSON: {exc}")
        return
    if not isinstance(raw, dict):
        _reply_error(server, None, INVALID_REQUEST, "the message is not a JSON object")
        return
    msg_id = raw.get("id")
    is_request = "id" in raw and "method" in raw
    try:
        message = protocol.structure_message(raw)
    except JsonRpcInvalidParams as exc:
        method = raw.get("method")
        cause = exc.__cause__ or exc
        detail = " ".join(str(cause).split())[:300]
        if is_request:
            _reply_error(server, msg_id, INVALID_PARAMS, f"invalid params for {method}: {detail}")
        else:
            log.warning("ignored a message with invalid params (%s): %s", method, detail)
        return
    except Exception as exc:  # noqa: BLE001 - one bad message never ends the session
        if is_request:
            _reply_error(server, msg_id, INTERNAL_ERROR, f"cannot read the request: {exc}")
        else:
            log.warning("ignored a message that cannot be read: %s", exc)
        return
    if not hasattr(message, "jsonrpc"):
        if is_request:
            _reply_error(server, msg_id, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        return
    try:
        protocol.handle_message(message)
    except Exception:  # noqa: BLE001
        log.exception("Unable to handle message")


async def _serve(server: LanguageServer, stdin: Stream) -> int:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None | Malformed] = asyncio.Queue()

    def reader() -> None:
        try:
            while True:
                try:
                    body = read_frame(stdin)
                except Malformed as exc:
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
                    return
                except (OSError, ValueError):
                    body = None
                loop.call_soon_threadsafe(queue.put_nowait, body)
                if body is None:
                    return
        except RuntimeError:
            return  # the loop is closed: the session is over

    threading.Thread(target=reader, name="ckptlens-stdin", daemon=True).start()
    while True:
        item = await queue.get()
        if item is None:
            return 0
        if isinstance(item, Malformed):
            print(f"ckptlens lsp: closing the connection: the client sent {item}", file=sys.stderr)
            return 1
        handle_body(server, item)


def serve_stdio(
    server: LanguageServer, stdin: Stream | None = None, stdout: BinaryIO | None = None
) -> int:
    """Serve `server` on stdin/stdout until the stream ends (0), is malformed (1), or the
    client sends `exit` (pygls exits the process)."""
    server._stop_event = threading.Event()  # noqa: SLF001 - what pygls' start_io sets up
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    status = 0
    try:
        status = asyncio.run(_serve(server, stdin or FdReader(sys.stdin.fileno())))
    except BrokenPipeError:
        print("ckptlens lsp: the client closed the connection", file=sys.stderr)
    finally:
        server.shutdown()
    return status
