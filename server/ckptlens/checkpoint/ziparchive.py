"""A minimal, bounded zip reader: the central directory, and members read on request.

`zipfile` would do, but it builds a `ZipInfo` object per member (a torch archive has one per
storage, thousands for a large model) and trusts sizes it has not checked against the file.
This keeps each entry a tuple, checks every offset against the file size before seeking,
refuses compressed members that expand absurdly, and verifies CRCs of what it reads.

Readers disagree on ambiguous archives (torch's miniz and Python's zipfile pick different
members of the same name; data is found through the local header, names through the central
directory), so an archive that could be read two ways is refused: duplicate names, and local
headers that disagree with the directory about a member's name, method or sizes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import IO

from ckptlens.checkpoint.index import CheckpointError, LimitExceeded

MAX_ENTRIES = 300_000  # one member per storage: 3x the tensors of the largest single files
MAX_CENTRAL_DIRECTORY = 1 << 29
MAX_EXPANSION = 100  # deflate reaches ~1000x only on degenerate input such as zeros
MAX_NAME_SHOWN = 120

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ENTRY = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header
_FULL32 = 0xFFFFFFFF
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class Entry:
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int  # of the local header


class ZipArchive:
    """The directory of the zip archive open (unbuffered) in `fh`, `size` bytes long."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self.fh = fh
        self.file_size = size
        self.entries = _directory(fh, size)  # name -> entry fields, in directory order

    @property
    def names(self) -> list[bytes]:
        return list(self.entries)

    def entry(self, name: bytes) -> Entry | None:
        fields = self.entries.get(name)
        return None if fields is None else Entry(*fields)

    def size_of(self, name: bytes) -> int | None:
        fields = self.entries.get(name)
        return None if fields is None else fields[4]

    def read(self, name: bytes, cap: int, what: str) -> bytes:
        entry = self.entry(name)
        if entry is None:
            raise CheckpointError(f"corrupt zip archive: {what} is missing")
        check_sizes(entry, cap, what)
        start = self._data_start(name, entry, what)
        self.fh.seek(start)
        raw = _read_exactly(self.fh, entry.compressed, what)
        data = raw if entry.method == _STORED else _inflate(raw, entry.size, what)
        if len(data) != entry.size or zlib.crc32(data) != entry.crc:
            raise CheckpointError(f"corrupt zip archive: {what} fails its size or CRC check")
        return data

    def check_local_headers(self) -> None:
        """Every member's local header must repeat what the directory says about it."""
        prefetch = getattr(self.fh, "prefetch", None)
        if prefetch is not None:  # a remote file: fetch every local header at once
            prefetch(
                [(fields[5], _LOCAL.size + len(name)) for name, fields in self.entries.items()]
            )
        for name, fields in self.entries.items():
            self._local_header(name, Entry(*fields), None)

    def _local_header(self, name: bytes, entry: Entry, what: str | None) -> int:
        """Checks the local header of `entry`; returns where its data starts. `what` names it
        in errors (its escaped name when None, computed only then: archives have thousands)."""
        if entry.offset + _LOCAL.size + max(len(name), entry.compressed) > self.file_size:
            raise CheckpointError(
                f"truncated zip archive: {what or shown_name(name)} lies past the file end"
            )
        self.fh.seek(entry.offset)
        header = self.fh.read(_LOCAL.size + len(name))
        if len(header) < _LOCAL.size + len(name):
            raise CheckpointError(f"truncated zip archive: {what or shown_name(name)} ends early")
        sig, _, flags, method, _, _, crc, compressed, size, name_len, extra_len = _LOCAL.unpack_from(
            header
        )
        if sig != b"PK\x03\x04":
            raise CheckpointError(f"corrupt zip archive: bad local header for {what or shown_name(name)}")
        disagree = name_len != len(name) or header[_LOCAL.size :] != name
        disagree = disagree or method != entry.method or (flags & 1) != (entry.flags & 1)
        if not flags & 8 and _FULL32 not in (compressed, size):  # sizes here unless deferred
            disagree = disagree or (crc, compressed, size) != (entry.crc, entry.compressed, entry.size)
        if disagree:
            raise CheckpointError(
                f"ambiguous zip archive: the local header of {what or shown_name(name)} disagrees "
                "with the central directory (readers would see different members): refusing it"
            )
        return entry.offset + _LOCAL.size + name_len + extra_len

    def _data_start(self, name: bytes, entry: Entry, what: str) -> int:
        start = self._local_header(name, entry, what)
        if start + entry.compressed > self.file_size:
            raise CheckpointError(f"truncated zip archive: {what} lies past the file end")
        return start


def check_sizes(entry: Entry, cap: int, what: str) -> None:
    if entry.flags & 1:
        raise CheckpointError(f"{what} is encrypted: not a torch.save archive")
    if entry.method not in (_STORED, _DEFLATED):
        raise CheckpointError(f"{what} uses zip compression method {entry.method}, not supported")
    if entry.size > cap:
        raise LimitExceeded(
            f"{what} is {entry.size:,} bytes uncompressed, more than the {cap:,} a checkpoint may use"
        )
    if entry.method == _STORED and entry.compressed != entry.size:
        raise CheckpointError(f"corrupt zip archive: stored member {what} changes size")
    if (
        entry.method == _DEFLATED
        and entry.size > 1 << 20
        and entry.size > MAX_EXPANSION * max(entry.compressed, 1)
    ):
        raise CheckpointError(
            f"{what} is compressed {entry.size // max(entry.compressed, 1):,}x "
            f"({entry.compressed:,} -> {entry.size:,} bytes): refusing a zip bomb"
        )


def shown_name(name: bytes) -> str:
    """A member name for messages: decoded, control characters escaped, cut short."""
    text = name.decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return repr(text[:MAX_NAME_SHOWN])


def _inflate(raw: bytes, size: int, what: str) -> bytes:
    try:
        inflater = zlib.decompressobj(-15)
        # never more than the directory promised (+1 to notice a lie)
        return inflater.decompress(raw, size + 1)
    except zlib.error as exc:
        raise CheckpointError(f"corrupt zip archive: cannot inflate {what}") from exc


def _read_exactly(fh: IO[bytes], n: int, what: str) -> bytes:
    chunks = []
    while n > 0:
        chunk = fh.read(n)
        if not chunk:
            raise CheckpointError(f"truncated zip archive: {what} ends early")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _directory(fh: IO[bytes], size: int) -> dict[bytes, tuple[int, int, int, int, int, int]]:
    count, cd_size, cd_offset = _end_record(fh, size)
    if count > MAX_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY:
        raise CheckpointError(
            f"zip archive lists {count:,} members in {cd_size:,} bytes: too many for a checkpoint"
        )
    if cd_offset + cd_size > size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its directory lies past the file end"
        )
    fh.seek(cd_offset)
    raw = _read_exactly(fh, cd_size, "the zip directory")
    try:
        return _entries(raw, count)
    except struct.error as exc:
        raise CheckpointError("corrupt zip archive: its directory is cut short") from exc


def _entries(raw: bytes, count: int) -> dict[bytes, tuple[int, int, int, int, int, int]]:
    entries: dict[bytes, tuple[int, int, int, int, int, int]] = {}
    unpack = _ENTRY.unpack_from
    pos = 0
    for _ in range(count):
        (sig, _, _, flags, method, _, _, crc, compressed, size, name_len, extra_len, comment_len,
         disk, _, _, offset) = unpack(raw, pos)  # fmt: skip
        if sig != b"PK\x01\x02":
            raise CheckpointError("corrupt zip archive: bad directory entry")
        name_end = pos + _ENTRY.size + name_len
        if name_end + extra_len + comment_len > len(raw):
            raise CheckpointError("corrupt zip archive: a directory entry runs past the directory")
        # What torch's reader (miniz) refuses when it opens the archive, whichever member.
        if (method == _STORED and compressed != size) or (size and not compressed):
            raise CheckpointError("corrupt zip archive: a member's sizes contradict its method")
        if disk not in (0, 1) or flags & 1:
            raise CheckpointError("corrupt zip archive: an encrypted or multi-disk member")
        if _FULL32 in (compressed, size, offset):
            size, compressed, offset = _zip64_sizes(
                raw[name_end : name_end + extra_len], size, compressed, offset
            )
        name = raw[pos + _ENTRY.size : name_end]
        if name in entries:
            raise CheckpointError(
                f"ambiguous zip archive: member {shown_name(name)} appears twice "
                "(readers disagree on which one counts): refusing it"
            )
        entries[name] = (method, flags, crc, compressed, size, offset)
        pos = name_end + extra_len + comment_len
    return entries


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The zip64 extra field holds, in this order, the fields the entry marks 0xFFFFFFFF."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            if size == _FULL32 and values:
                size = values.pop(0)
            if compressed == _FULL32 and values:
                compressed = values.pop(0)
            if offset == _FULL32 and values:
                offset = values.pop(0)
            return size, compressed, offset
        pos += 4 + length
    raise CheckpointError("corrupt zip archive: a zip64 entry lacks its sizes")


def _end_record(fh: IO[bytes], size: int) -> tuple[int, int, int]:
    tail_size = min(size, _EOCD.size + 0xFFFF + _ZIP64_LOCATOR.size)
    fh.seek(size - tail_size)
    tail = _read_exactly(fh, tail_size, "the zip end record")
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its end-of-archive record is missing"
        )
    _, disk, cd_disk, on_disk, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if disk or cd_disk or on_disk != count:
        raise CheckpointError("corrupt zip archive: a multi-disk archive (torch cannot read it)")
    if at >= _ZIP64_LOCATOR.size:
        locator = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if locator[0] == b"PK\x06\x07":
            return _zip64_end_record(fh, size, locator[2])
    return count, cd_size, cd_offset


def _zip64_end_record(fh: IO[bytes], size: int, offset: int) -> tuple[int, int, int]:
    if offset + _ZIP64_EOCD.size > size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its zip64 record lies past the file end"
        )
    fh.seek(offset)
    record = _read_exactly(fh, _ZIP64_EOCD.size, "the zip64 end record")
    if record[:4] != b"PK\x06\x06":
        raise CheckpointError("corrupt zip archive: bad zip64 end-of-archive record")
    fields = _ZIP64_EOCD.unpack(record)
    return fields[7], fields[8], fields[9]
