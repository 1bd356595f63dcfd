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

Frames are read and parsed on a daemon thread, so the event loop never waits on stdin nor
runs `json.loads`. A body over LARGE_FRAME bytes is parsed without its long strings (see
`parse_body`): no step holds the GIL for long, so other documents' requests are answered.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import sys
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, BinaryIO, Protocol

from pygls.exceptions import JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

MAX_FRAME = 256 * 1024 * 1024
MAX_HEADER_LINE = 8192
MAX_HEADERS = 32
CHUNK = 1 << 20

Body = bytes | bytearray  # a frame's body: read as it arrives into one bytearray

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
        try:  # a pipe of 1 MiB, not 64 KiB: a large frame comes in 16x fewer reads
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)
        except (OSError, AttributeError):
            pass  # not a pipe, not Linux, or over /proc/sys/fs/pipe-max-size

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

    def read_into(self, out: bytearray, n: int) -> int:
        """Append up to `n` bytes to `out` (one copy: a large body is not copied chunk by
        chunk, then joined); 0 at the end of the stream."""
        if self.buffer:
            taken = min(n, len(self.buffer))
            out += self.buffer[:taken]
            del self.buffer[:taken]
            return taken
        if self.eof:
            return 0
        chunk = os.read(self.fd, min(n, CHUNK))
        if not chunk:
            self.eof = True
        out += chunk
        return len(chunk)

    def _take(self, n: int) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out


class Malformed(Exception):
    """A frame the stream cannot be resynchronised after."""


class Stream(Protocol):
    def readline(self, limit: int, /) -> bytes: ...
    def read(self, n: int, /) -> bytes: ...


def read_frame(stream: Stream, max_frame: int = MAX_FRAME) -> Body | None:
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
    read_into = getattr(stream, "read_into", None)
    if read_into is not None:
        body = bytearray()
        while len(body) < length:
            if not read_into(body, length - len(body)):
                return None  # the stream ended inside a body
        return body
    chunks = []
    remaining = length
    while remaining:
        chunk = stream.read(min(remaining, CHUNK))
        if not chunk:
            return None  # the stream ended inside a body
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# -- large frames: long strings spliced out in the reader thread -----------------------------------

LARGE_FRAME = 1 << 20
"""A body over this many bytes is parsed without its long string values (see `parse_large`)."""
STEP = 1 << 20
"""The most bytes one C-level call of the scanner looks at: the GIL is free between steps."""
_BACKSLASH = 0x5C


Size = int | Future[int]
"""A left-out text's UTF-8 size, or its count under way (see `long_strings`)."""


class Omitted:
    """A string value spliced out of a large frame: where it was and its UTF-8 size."""

    __slots__ = ("end", "size", "start")

    def __init__(self, start: int, end: int, size: Size) -> None:
        self.start, self.end, self.size = start, end, size


def _escaped(body: Body, quote: int, floor: int) -> bool:
    """Whether the quote at `quote` is escaped: an odd run of backslashes before it (the run
    is counted in steps of at most STEP bytes, never before `floor`)."""
    run = 0
    end = quote
    while end > floor:
        start = max(floor, end - STEP)
        seg = body[start:end]
        tail = len(seg) - len(seg.rstrip(b"\\"))
        run += tail
        if tail < len(seg):
            break
        end = start
    return run % 2 == 1


def _safe_split(body: Body, lo: int, p: int) -> int:
    """A point in (lo, p] of a string's contents (starting at `lo`, itself a safe point) that
    cuts no escape sequence in two."""
    cut = p
    q = body.rfind(b"\\", max(lo, p - 12), p)
    if q >= 0:
        seg = body[lo : q + 1]
        run_start = lo + len(seg.rstrip(b"\\"))
        if run_start > lo:
            cut = run_start  # the run starts an escape: cut before it
        else:  # the whole segment is backslashes from `lo`: escapes start at even offsets
            cut = q if (q - lo) % 2 == 0 else q + 1
    # Nor between the two halves of a surrogate pair (\ud83d\ude00): each alone is not text.
    high = body[cut - 6 : cut]
    if (
        cut - 6 >= lo
        and high[:3].lower() == b"\\ud"
        and high[3:4].lower() in b"89ab"
        and _escaped(body, cut - 5, lo)
    ):
        if cut - 6 > lo:
            return cut - 6
        if body[cut : cut + 2] == b"\\u":  # a step too short for the pair: take it whole
            return cut + 6
    return cut


def utf8_size(body: Body, start: int, end: int) -> int:
    """The UTF-8 size of the JSON string contents `body[start:end]` once decoded, in steps of
    at most STEP bytes: counted where a step is ASCII without \\u escapes, else decoded.
    Raises ValueError where a decoded step is not valid JSON string contents."""
    size = 0
    lo = start
    while lo < end:
        p = end if end - lo <= STEP else _safe_split(body, lo, lo + STEP)
        chunk = body[lo:p]
        if chunk.isascii() and b"\\u" not in chunk:
            # Only one-byte escapes (\n, \\, ...): each is two bytes for one. A run of k
            # backslashes holds k - k // 2 escapes, and `count` pairs them from the left.
            # (Their letters are not checked here: the text is left out, never used.)
            size += len(chunk) - chunk.count(b"\\") + chunk.count(b"\\\\")
        else:
            piece = json.loads(b'"' + chunk + b'"')
            size += len(piece.encode("utf-8", errors="replace"))
        lo = p
    return size


def long_strings(body: Body, limit: int, later: Executor | None = None) -> list[Omitted]:
    """The string values (and keys) of the JSON `body` whose decoded UTF-8 size is over
    `limit` bytes, in order. Every C-level call looks at most STEP bytes (plus one copy of a
    long string's step for decoding), so another thread gets the GIL between steps. Raises
    ValueError on an unterminated string or a long string that is not valid JSON.

    A string over 6 x `limit` bytes is over `limit` decoded (an escape is at most 6 bytes for
    one): with `later`, its exact size is counted there (a Future; the encoded size if it does
    not decode), so that the frames after it are read meanwhile."""
    found: list[Omitted] = []
    n = len(body)
    pos = 0
    while pos < n:
        quote = body.find(b'"', pos, pos + STEP)
        if quote < 0:
            pos += STEP
            continue
        i = quote + 1
        while True:
            if i >= n:
                raise ValueError(f"an unterminated string starting at byte {quote}")
            close = body.find(b'"', i, i + STEP)
            if close < 0:
                i += STEP
                continue
            if body[close - 1] == _BACKSLASH and _escaped(body, close, quote + 1):
                i = close + 1
                continue
            break
        if later is not None and close - quote - 1 > 6 * limit:
            found.append(
                Omitted(quote, close + 1, later.submit(_size_or_length, body, quote + 1, close))
            )
        elif close - quote - 1 > limit:  # the encoded form is never shorter than the decoded one
            size = utf8_size(body, quote + 1, close)
            if size > limit:
                found.append(Omitted(quote, close + 1, size))
        pos = close + 1
    return found


def _size_or_length(body: Body, start: int, end: int) -> int:
    try:
        return utf8_size(body, start, end)
    except ValueError:
        return end - start


def splice(body: Body, spans: list[Omitted], replacement: bytes = b'""') -> bytes:
    """`body` with each span replaced by `replacement`."""
    parts = []
    pos = 0
    for span in spans:
        parts.append(body[pos : span.start])
        parts.append(replacement)
        pos = span.end
    parts.append(body[pos:])
    return b"".join(parts)


_TOKEN = "\u0000ckptlens-omitted-" + secrets.token_hex(8) + "-"


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


omitted_sizes: ContextVar[tuple[Size | None, ...]] = ContextVar("omitted_sizes", default=())
"""While a didOpen / didChange runs: the UTF-8 size of each text left out of it (one per
content change for didChange; None where the text is there). A left-out text is "" in the
message pygls sees; the server treats its document as over the size cap."""


class Parsed:
    """A frame's body parsed in the reader thread: the message, or why it is not JSON."""

    __slots__ = ("error", "message", "sizes")

    def __init__(
        self, message: Any = None, sizes: tuple[Size | None, ...] = (), error: str | None = None
    ) -> None:
        self.message, self.sizes, self.error = message, sizes, error


def parse_body(body: Body, limit: int = LARGE_FRAME, later: Executor | None = None) -> Parsed:
    """Parse a frame's body. A body over LARGE_FRAME bytes is scanned in bounded steps for
    string values whose decoded size is over `limit` (at least LARGE_FRAME): they are spliced
    out before `json.loads`, which then only sees the small remainder, and become "" in the
    message. The sizes of a didOpen's or didChange's texts left out are in `sizes`."""
    try:
        if len(body) <= LARGE_FRAME:
            return Parsed(json.loads(body))
        spans = long_strings(body, max(limit, LARGE_FRAME), later)
        if not spans:
            return Parsed(json.loads(body))
        markers = [json.dumps(f"{_TOKEN}{i}").encode() for i in range(len(spans))]
        parts = []
        pos = 0
        for span, marker in zip(spans, markers, strict=True):
            parts += [body[pos : span.start], marker]
            pos = span.end
        parts.append(body[pos:])
        message = json.loads(b"".join(parts))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return Parsed(error=f"the message is not JSON: {exc}")
    found = _unmark(message)
    return Parsed(message, _text_sizes(message, found, spans))


def _unmark(message: Any) -> dict[int, tuple[Any, Any]]:
    """Replace every marker in `message` by "" (keys too): where each was, by index."""
    found: dict[int, tuple[Any, Any]] = {}

    def index(value: Any) -> int | None:
        if isinstance(value, str) and value.startswith(_TOKEN):
            tail = value[len(_TOKEN) :]
            return int(tail) if tail.isdigit() else None
        return None

    stack = [message]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [k for k in node if index(k) is not None]:
                node[""] = node.pop(key)
            for key, value in node.items():
                i = index(value)
                if i is not None:
                    node[key] = ""
                    found[i] = (node, key)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            for key, value in enumerate(node):
                i = index(value)
                if i is not None:
                    node[key] = ""
                    found[i] = (node, key)
                elif isinstance(value, dict | list):
                    stack.append(value)
    return found


def _text_sizes(
    message: Any, found: dict[int, tuple[Any, Any]], spans: list[Omitted]
) -> tuple[Size | None, ...]:
    """The sizes of the texts left out of a didOpen (one) or a didChange (one per change)."""
    if not isinstance(message, dict) or not isinstance(message.get("params"), dict):
        return ()
    where = {(id(node), key): spans[i].size for i, (node, key) in found.items()}
    params = message["params"]
    method = message.get("method")
    if method == "textDocument/didOpen" and isinstance(params.get("textDocument"), dict):
        size = where.get((id(params["textDocument"]), "text"))
        return () if size is None else (size,)
    if method == "textDocument/didChange" and isinstance(params.get("contentChanges"), list):
        sizes = tuple(where.get((id(change), "text")) for change in params["contentChanges"])
        return sizes if any(s is not None for s in sizes) else ()
    return ()


def handle_body(server: LanguageServer, body: Body) -> None:
    handle_parsed(server, parse_body(body, _limit(server)))


def handle_parsed(server: LanguageServer, parsed: Parsed) -> None:
    protocol = server.protocol
    if parsed.error is not None:
        _reply_error(server, None, PARSE_ERROR, parsed.error)
        return
    raw = parsed.message
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
    token = omitted_sizes.set(parsed.sizes)
    try:
        protocol.handle_message(message)
    except Exception:  # noqa: BLE001
        log.exception("Unable to handle message")
    finally:
        omitted_sizes.reset(token)


def _limit(server: LanguageServer) -> int:
    """Strings up to this many bytes are kept in a large frame: the server's document cap."""
    settings = getattr(server, "settings", None)
    cap = getattr(settings, "max_document_size", 0)
    return max(LARGE_FRAME, cap if isinstance(cap, int) else 0)


async def _serve(server: LanguageServer, stdin: Stream) -> int:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Parsed | None | Malformed] = asyncio.Queue()
    sizes = ThreadPoolExecutor(1, thread_name_prefix="ckptlens-sizes")

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
                parsed = None if body is None else parse_body(body, _limit(server), sizes)
                del body  # a large body is not kept while the next frame is read
                loop.call_soon_threadsafe(queue.put_nowait, parsed)
                if parsed is None:
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
        handle_parsed(server, item)


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
