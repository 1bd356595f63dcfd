"""A remote file read by byte ranges: seekable, with a small read-ahead, every byte it
transfers counted against the checkpoint's budget, and the ranges it read kept for the disk
cache (`BlockStore`), so a second read of the same object costs no network."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock

from ckptlens.checkpoint.index import CheckpointError, LimitExceeded

READ_AHEAD = 64 << 10  # one request covers a typical safetensors header or zip end record
_MERGE_GAP = 4 << 10  # prefetched ranges closer than this are fetched as one
_PARALLEL = 8

Fetch = Callable[[int, int], bytes]  # bytes [start, end) of the object


@dataclass
class Budget:
    """What one checkpoint's reads may cost, and what they did: shared by all its files."""

    max_bytes: int
    transferred: int = 0  # bytes received over the network
    from_cache: int = 0  # bytes served by the disk cache
    requests: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False)

    def cached(self, n: int) -> None:
        with self._lock:
            self.from_cache += n

    def charge(self, n: int, shown: str) -> None:
        with self._lock:
            if self.transferred + n > self.max_bytes:
                raise LimitExceeded(
                    f"{shown}: reading it needs more than {self.max_bytes:,} bytes over the "
                    "network, the cap per checkpoint (CKPTLENS_REMOTE_MAX_BYTES): refusing it"
                )
            self.transferred += n
            self.requests += 1


@dataclass(frozen=True)
class RemoteObject:
    """One file of a remote checkpoint."""

    name: str  # relative to the checkpoint's folder (or the file's own name)
    shown: str  # where it is, for messages: never with credentials
    size: int
    key: str  # the disk cache key: URL plus ETag or commit, no credentials
    fetch: Fetch


class RangeFile:
    """An unbuffered, seekable, read-only file over `obj`, as the readers use local files."""

    remote = True

    def __init__(
        self,
        obj: RemoteObject,
        budget: Budget,
        segments: dict[int, bytes] | None = None,
        read_ahead: int = READ_AHEAD,
    ) -> None:
        self.obj = obj
        self.size = obj.size
        self.budget = budget
        self.read_ahead = read_ahead
        self.pos = 0
        self._starts: list[int] = []
        self._data: dict[int, bytes] = {}
        self.fetched: dict[int, bytes] = {}  # what this file brought over the network
        self._lock = Lock()
        for start, chunk in sorted((segments or {}).items()):
            self._insert(start, chunk)

    # -- the file interface the readers use ------------------------------------------------

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        if base + offset < 0:
            raise CheckpointError(f"{self.obj.shown}: seek before the start of the file")
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        data = self.pread(self.pos, end)
        self.pos = end
        return data

    def read_prefix(self, n: int) -> bytes:
        """The first `n` bytes (the legacy reader parses pickles from a growing prefix): what
        is missing is fetched exactly, without read-ahead (the prefix grows as needed)."""
        return self.pread(0, min(n, self.size), read_ahead=False)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> RangeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ranges ---------------------------------------------------------------------------

    def pread(self, start: int, end: int, read_ahead: bool = True) -> bytes:
        gaps = self._gaps(start, end)
        for index, (a, b) in enumerate(gaps):
            if read_ahead and index == len(gaps) - 1:  # read ahead past the last gap only
                b = min(self.size, max(b, a + self.read_ahead))
            self._fetch(a, b)
        return self._slice(start, end)

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch many small `(offset, length)` ranges at once (a zip's local headers), exactly:
        no read-ahead, neighbours merged, in parallel."""
        wanted = sorted((a, min(self.size, a + n)) for a, n in ranges if n > 0 and a < self.size)
        merged: list[list[int]] = []
        for a, b in wanted:
            if merged and a <= merged[-1][1] + _MERGE_GAP:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        gaps = [gap for a, b in merged for gap in self._gaps(a, b)]
        if len(gaps) <= 1:
            for a, b in gaps:
                self._fetch(a, b)
            return
        with ThreadPoolExecutor(min(_PARALLEL, len(gaps))) as pool:
            for future in [pool.submit(self._fetch, a, b) for a, b in gaps]:
                future.result()

    def segments(self) -> dict[int, bytes]:
        """Every range held (from the cache and fetched), for the disk cache."""
        with self._lock:
            return dict(self._data)

    def _fetch(self, start: int, end: int) -> None:
        self.budget.charge(end - start, self.obj.shown)
        data = self.obj.fetch(start, end)
        if len(data) != end - start:
            raise CheckpointError(
                f"{self.obj.shown}: the server sent {len(data):,} bytes for a range of "
                f"{end - start:,} (the file changed while it was read?)"
            )
        with self._lock:
            self.fetched[start] = data
            self._insert(start, data)

    def _insert(self, start: int, data: bytes) -> None:
        if start in self._data and len(self._data[start]) >= len(data):
            return
        if start not in self._data:
            bisect.insort(self._starts, start)
        self._data[start] = data

    def _gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        gaps = []
        pos = start
        with self._lock:
            i = max(0, bisect.bisect_right(self._starts, pos) - 1)
            while pos < end and i < len(self._starts):
                s = self._starts[i]
                e = s + len(self._data[s])
                if e <= pos:
                    i += 1
                    continue
                if s > pos:
                    gaps.append((pos, min(s, end)))
                pos = max(pos, e)
                i += 1
        if pos < end:
            gaps.append((pos, end))
        return gaps

    def _slice(self, start: int, end: int) -> bytes:
        parts = []
        pos = start
        with self._lock:
            i = max(0, bisect.bisect_right(self._starts, pos) - 1)
            while pos < end:
                s = self._starts[i]
                chunk = self._data[s]
                if s + len(chunk) <= pos:
                    i += 1
                    continue
                take = chunk[pos - s : end - s]
                parts.append(take)
                pos += len(take)
                i += 1
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)
