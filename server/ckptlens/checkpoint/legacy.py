"""The legacy torch format (`_use_new_zipfile_serialization=False`, PyTorch < 1.6 default).

Layout: pickles of the magic number, the protocol version and `sys_info`, then the main
pickle, then a pickle of the storage keys, then the raw storages (each an 8-byte element count
and its bytes, in key order). Shapes and strides are all in the main pickle, so only the
pickles are parsed, from a memory map; the storage bytes are accounted for, never read.
"""

from __future__ import annotations

import mmap
from typing import IO, Any

from ckptlens.checkpoint.index import CheckpointError, LimitExceeded, UnsafeCheckpointError
from ckptlens.checkpoint.torchfile import StorageTable, TorchPickle
from ckptlens.checkpoint.unpickler import Unpickler
from ckptlens.checkpoint.weights_only import WeightsOnlyAudit

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_STORAGE_HEADER = 8  # int64 element count written before each storage's bytes


def looks_legacy(head: bytes) -> bool:
    """A pickle opening: PROTO 2+ (`\\x80`), or protocol 0/1 starting with the magic long."""
    return (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5) or head[:1] == b"L"


def read_torch_legacy(fh: IO[bytes], size: int) -> TorchPickle:
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return _read(view, size)


def probe_pickle(fh: IO[bytes]) -> str:
    """How far torch.load would get running the start of this file as a pickle: it unpickles
    the first pickle of any file that is not a zip (or tar) before it checks the magic
    number, and `weights_only=False` imports and calls whatever that pickle names on the way.
    "complete": the first pickle parses to STOP; "names-globals": it names a global before it
    breaks; "no": neither. Limits of ours reached on the way raise (nothing could be cleared)."""
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        probe = Unpickler(view, name="the file read as a pickle", audit=WeightsOnlyAudit())
        try:
            probe.load()
        except (LimitExceeded, UnsafeCheckpointError):
            raise
        except CheckpointError:
            return "names-globals" if probe.globals_seen else "no"
        return "complete"


def _read(view: mmap.mmap, size: int) -> TorchPickle:
    audit = WeightsOnlyAudit()
    magic, pos = _small_pickle(view, 0, "magic number", audit)
    if magic != MAGIC_NUMBER:
        raise CheckpointError(
            "a plain pickle, not a torch.save file (it does not start with torch's magic number)"
        )
    version, pos = _small_pickle(view, pos, "protocol version", audit)
    if version != PROTOCOL_VERSION:
        raise CheckpointError(f"legacy torch file with unknown protocol version {version!r:.40}")
    sys_info, pos = _small_pickle(view, pos, "sys_info", audit)
    notes = []
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        notes.append("saved on a big-endian machine (torch.load byte-swaps it)")
    table = StorageTable(legacy=True)
    main = Unpickler(view, start=pos, persistent_load=table, name="main pickle", audit=audit)
    root = main.load()
    keys, pos = _small_pickle(view, main.pos, "storage key list", audit)
    _check_storage_bytes(table, keys, size - pos)
    return TorchPickle(root, table.storages, tuple(main.opaque), tuple(notes), audit.safety())


def _small_pickle(
    view: mmap.mmap, pos: int, what: str, audit: WeightsOnlyAudit
) -> tuple[Any, int]:
    unpickler = Unpickler(view, start=pos, name=f"legacy torch {what}", audit=audit)
    value = unpickler.load()
    return value, unpickler.pos


def _check_storage_bytes(table: StorageTable, keys: Any, available: int) -> None:
    """The storages follow the key list back to back: a shorter file was cut off."""
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
        raise CheckpointError("corrupt legacy torch file: the storage key list is malformed")
    needed = 0
    for key in keys:
        ref = table.storages.get(str(key))
        if ref is None:
            raise CheckpointError(
                f"corrupt legacy torch file: storage {key} is listed but never used"
            )
        needed += _STORAGE_HEADER + ref.nbytes
    if available < needed:
        raise CheckpointError(
            f"truncated legacy torch file: its storages need {needed:,} bytes after the pickles, "
            f"the file has {available:,}"
        )
