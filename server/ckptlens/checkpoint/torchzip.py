"""`torch.save` zip archives (the default since PyTorch 1.6, whatever the file's extension).

Only the central directory, `<archive>/data.pkl` and the tiny `byteorder` record are read; the
`data/<key>` storage members are checked against the pickle by their directory entries alone.
"""

from __future__ import annotations

from typing import IO

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.torchfile import StorageTable, TorchPickle
from ckptlens.checkpoint.unpickler import Unpickler
from ckptlens.checkpoint.ziparchive import ZipArchive

MAX_PICKLE_BYTES = 1 << 30  # data.pkl of a huge model is megabytes; a GiB is already absurd


def read_torch_zip(fh: IO[bytes], size: int) -> TorchPickle:
    archive = ZipArchive(fh, size)
    prefix = _archive_prefix(archive.names)
    raw = archive.read(prefix + b"data.pkl", MAX_PICKLE_BYTES, "data.pkl")
    table = StorageTable()
    unpickler = Unpickler(raw, persistent_load=table, name="data.pkl")
    root = unpickler.load()
    _check_storages(table, archive, prefix)
    notes = []
    if prefix + b"byteorder" in archive.entries:
        if archive.read(prefix + b"byteorder", 16, "byteorder").strip() == b"big":
            notes.append("saved on a big-endian machine (torch.load byte-swaps it)")
    return TorchPickle(root, table.storages, tuple(unpickler.opaque), tuple(notes))


def _archive_prefix(names: list[bytes]) -> bytes:
    """torch names every record `<archive>/...` after the first entry's folder."""
    if any(name.endswith(b"/constants.pkl") or b"/code/" in name for name in names):
        raise CheckpointError(
            "a TorchScript archive (torch.jit.save), not a state_dict checkpoint: "
            "load it with torch.jit.load and save its state_dict()"
        )
    present = set(names)
    if names:
        first = names[0].split(b"/", 1)[0] + b"/"
        if first + b"data.pkl" in present:
            return first
    for name in names:
        if name.endswith(b"/data.pkl") and name.count(b"/") == 1:
            return name[: -len(b"data.pkl")]
    if b"data.pkl" in present:
        return b""
    raise CheckpointError("a zip archive without data.pkl: not a torch.save checkpoint")


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
