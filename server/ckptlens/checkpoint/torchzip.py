"""`torch.save` zip archives (the default since PyTorch 1.6, whatever the file's extension).

Only the central directory, the local headers, `<archive>/data.pkl` and the tiny `byteorder`
record are read; the `data/<key>` storage members are checked against the pickle by their
directory entries alone.

The archive is found as torch's `PyTorchStreamReader` finds it: the folder of the first member
names the archive, records are `<folder>/data.pkl`, `<folder>/version`, ...; a member outside
that folder (or a path with `..`) is refused, since another reader could pick it instead.
"""

from __future__ import annotations

import re
from typing import IO

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.torchfile import StorageTable, TorchPickle
from ckptlens.checkpoint.unpickler import Unpickler
from ckptlens.checkpoint.weights_only import WeightsOnlyAudit
from ckptlens.checkpoint.ziparchive import ZipArchive, shown_name

# data.pkl of a model with 100,000 tensors is ~20 MB; decompressed size is capped absolutely,
# besides the expansion ratio, so a 35 MiB deflated member cannot become gigabytes.
MAX_PICKLE_BYTES = 128 << 20


def read_torch_zip(fh: IO[bytes], size: int) -> TorchPickle:
    archive = ZipArchive(fh, size)
    prefix = archive_prefix(archive.names)
    archive.check_local_headers()
    raw = archive.read(prefix + b"data.pkl", MAX_PICKLE_BYTES, "data.pkl")
    table = StorageTable()
    audit = WeightsOnlyAudit()
    _check_version(archive, prefix, audit)
    unpickler = Unpickler(raw, persistent_load=table, name="data.pkl", audit=audit)
    del raw  # the unpickler holds it; nothing else should once it is done
    root = unpickler.load()
    unpickler.data = b""
    _check_storages(table, archive, prefix)
    notes = []
    if prefix + b"byteorder" in archive.entries:
        if archive.read(prefix + b"byteorder", 16, "byteorder").strip() == b"big":
            notes.append("saved on a big-endian machine (torch.load byte-swaps it)")
    return TorchPickle(root, table.storages, tuple(unpickler.opaque), tuple(notes), audit.safety())


def archive_prefix(names: list[bytes]) -> bytes:
    """torch names every record `<archive>/...` after the first entry's folder."""
    if any(name.endswith(b"/constants.pkl") or b"/code/" in name for name in names):
        raise CheckpointError(
            "a TorchScript archive (torch.jit.save), not a state_dict checkpoint: "
            "load it with torch.jit.load and save its state_dict()"
        )
    if not names:
        raise CheckpointError("an empty zip archive: not a torch.save checkpoint")
    if b"/" not in names[0]:
        if b"data.pkl" in names:
            raise CheckpointError(
                "a zip archive with data.pkl outside any folder: torch.load cannot open it "
                "(torch.save puts every record in one folder)"
            )
        raise CheckpointError("a zip archive without data.pkl: not a torch.save checkpoint")
    prefix = names[0].split(b"/", 1)[0] + b"/"
    for name in names:
        parts = name.split(b"/")
        if not name.startswith(prefix) or b".." in parts or b"\\" in name or b"" in parts[1:-1]:
            raise CheckpointError(
                f"ambiguous zip archive: member {shown_name(name)} lies outside the archive's "
                f"folder {shown_name(prefix[:-1])}: refusing it"
            )
    present = set(names)
    if prefix + b"data.pkl" not in present:
        raise CheckpointError("a zip archive without data.pkl: not a torch.save checkpoint")
    if prefix + b"version" not in present and prefix + b".data/version" not in present:
        raise CheckpointError(
            "a zip archive without a version record: torch.load cannot open it"
        )
    return prefix


MAX_FORMAT_VERSION = 10  # torch 2.13's kMaxSupportedFileFormatVersion
_STOULL = re.compile(rb"\s*([+-]?)(\d+)")


def _check_version(archive: ZipArchive, prefix: bytes, audit: WeightsOnlyAudit) -> None:
    """The version record, parsed as torch's reader parses it (`std::stoull`)."""
    name = prefix + b".data/version" if prefix + b".data/version" in archive.entries else prefix + b"version"
    raw = archive.read(name, 1024, "the version record")
    match = _STOULL.match(raw)
    version = int(match.group(2)) if match else -1
    if match and match.group(1) == b"-" and version:
        version = -1
    if not 1 <= version < 1 << 64:
        raise CheckpointError(
            f"corrupt torch archive: its version record {shown_name(raw[:20])} is not a "
            "format version torch.load accepts"
        )
    if version > MAX_FORMAT_VERSION:
        audit.reject(
            f"its file format version {version} is newer than torch 2.13 reads "
            f"(at most {MAX_FORMAT_VERSION})"
        )


def _check_storages(table: StorageTable, archive: ZipArchive, prefix: bytes) -> None:
    """Every storage the pickle names must be in the archive, at least as large as recorded:
    otherwise torch.load fails, so the checkpoint is corrupt (judged from the directory only)."""
    folder = prefix + b"data/"
    for key, ref in table.storages.items():
        size = archive.size_of(folder + key.encode())
        if size is None:
            raise CheckpointError(f"corrupt torch archive: storage data/{key} is missing")
        if size < ref.nbytes:
            raise CheckpointError(
                f"corrupt torch archive: storage data/{key} holds {size:,} bytes "
                f"but the pickle says {ref.nbytes:,}"
            )
