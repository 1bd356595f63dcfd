"""`torch.save` zip archives (the default since PyTorch 1.6, whatever the file's extension).

Only the central directory, `<archive>/data.pkl` and a few tiny records are read; the
`data/<key>` storage members are checked against the pickle by their directory entries alone.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import IO

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.torchfile import StorageTable, TorchPickle
from ckptlens.checkpoint.unpickler import Unpickler

MAX_PICKLE_BYTES = 1 << 30  # data.pkl of a huge model is megabytes; a GiB is already absurd
MAX_EXPANSION = 100  # deflate reaches ~1000x only on degenerate input such as zeros
MAX_ENTRIES = 4_000_000
MAX_CENTRAL_DIRECTORY = 1 << 29

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def read_torch_zip(fh: IO[bytes], size: int) -> TorchPickle:
    _check_directory(fh, size)
    try:
        archive = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise CheckpointError(f"corrupt or truncated zip archive ({_why(exc)})") from exc
    with archive:
        return _read_archive(archive)


def _read_archive(archive: zipfile.ZipFile) -> TorchPickle:
    members = {info.filename: info for info in archive.infolist()}
    prefix = _archive_prefix(archive, members)
    raw = _read_member(archive, members[f"{prefix}data.pkl"], MAX_PICKLE_BYTES, "data.pkl")
    table = StorageTable()
    unpickler = Unpickler(raw, persistent_load=table, name="data.pkl")
    root = unpickler.load()
    _check_storages(table, members, prefix)
    notes = []
    order = members.get(f"{prefix}byteorder")
    if order is not None and _read_member(archive, order, 16, "byteorder").strip() == b"big":
        notes.append("saved on a big-endian machine (torch.load byte-swaps it)")
    return TorchPickle(root, table.storages, tuple(unpickler.opaque), tuple(notes))


def _archive_prefix(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> str:
    """torch names every record `<archive>/...` after the first entry's folder."""
    names = list(members)
    if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
        raise CheckpointError(
            "a TorchScript archive (torch.jit.save), not a state_dict checkpoint: "
            "load it with torch.jit.load and save its state_dict()"
        )
    if names:
        first = names[0].split("/", 1)[0] + "/"
        if first + "data.pkl" in members:
            return first
    for name in names:
        if name.endswith("/data.pkl") and name.count("/") == 1:
            return name[: -len("data.pkl")]
    if "data.pkl" in members:
        return ""
    raise CheckpointError("a zip archive without data.pkl: not a torch.save checkpoint")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, what: str) -> bytes:
    if info.file_size > cap:
        raise CheckpointError(
            f"{what} is {info.file_size:,} bytes uncompressed, more than the {cap:,} a checkpoint may use"
        )
    if (
        info.compress_type != zipfile.ZIP_STORED
        and info.file_size > 1 << 20
        and info.file_size > MAX_EXPANSION * max(info.compress_size, 1)
    ):
        raise CheckpointError(
            f"{what} is compressed {info.file_size // max(info.compress_size, 1):,}x "
            f"({info.compress_size:,} -> {info.file_size:,} bytes): refusing a zip bomb"
        )
    try:
        with archive.open(info) as member:
            data = member.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        raise CheckpointError(
            f"corrupt or truncated zip archive: cannot read {what} ({_why(exc)})"
        ) from exc
    if len(data) > cap:
        raise CheckpointError(f"{what} is larger than the {cap:,} bytes a checkpoint may use")
    return data


def _check_storages(table: StorageTable, members: dict[str, zipfile.ZipInfo], prefix: str) -> None:
    """Every storage the pickle names must be in the archive, at least as large as recorded:
    otherwise torch.load fails, so the checkpoint is corrupt (judged from the directory only)."""
    for key, ref in table.storages.items():
        info = members.get(f"{prefix}data/{key}")
        if info is None:
            raise CheckpointError(f"corrupt torch archive: storage data/{key} is missing")
        if info.file_size < ref.nbytes:
            raise CheckpointError(
                f"corrupt torch archive: storage data/{key} holds {info.file_size:,} bytes "
                f"but the pickle says {ref.nbytes:,}"
            )


def _check_directory(fh: IO[bytes], size: int) -> None:
    """Bound the central directory before zipfile loads all of it into memory."""
    tail_size = min(size, _EOCD.size + 0xFFFF + _ZIP64_LOCATOR.size)
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its end-of-archive record is missing"
        )
    _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if at >= _ZIP64_LOCATOR.size:
        locator = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if locator[0] == b"PK\x06\x07":
            entries, cd_size, cd_offset = _zip64_directory(fh, size, locator[2])
    if entries > MAX_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY:
        raise CheckpointError(
            f"zip archive lists {entries:,} members in {cd_size:,} bytes: too many for a checkpoint"
        )
    if cd_offset + cd_size > size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its directory lies past the file end"
        )
    fh.seek(0)


def _zip64_directory(fh: IO[bytes], size: int, offset: int) -> tuple[int, int, int]:
    if offset + _ZIP64_EOCD.size > size:
        raise CheckpointError(
            "truncated or corrupt zip archive: its zip64 record lies past the file end"
        )
    fh.seek(offset)
    record = fh.read(_ZIP64_EOCD.size)
    if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
        raise CheckpointError("corrupt zip archive: bad zip64 end-of-archive record")
    fields = _ZIP64_EOCD.unpack(record)
    return fields[7], fields[8], fields[9]


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
