"""The legacy torch format (`_use_new_zipfile_serialization=False`, PyTorch < 1.6 default).

Layout: pickles of the magic number, the protocol version and `sys_info`, then the main
pickle, then a pickle of the storage keys, then the raw storages (each an 8-byte element count
and its bytes, in key order). Shapes and strides are all in the main pickle, so only the
pickles are parsed, from a memory map; the storage bytes are accounted for, never read.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

from ckptlens.checkpoint.index import CheckpointError, LimitExceeded, UnsafeCheckpointError
from ckptlens.checkpoint.torchfile import StorageTable, TorchPickle
from ckptlens.checkpoint.unpickler import PickleTruncated, Unpickler
from ckptlens.checkpoint.weights_only import WeightsOnlyAudit

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_HEADER = 8  # int64 element count written before each storage's bytes
# A remote file has no memory map: its pickles are read from a prefix that grows (at least x2) until
# they parse, up to what a pickle may be (the unpickler's own caps stop it well before).
_FIRST_PREFIX = 64 << 10
_MAX_PREFIX = 160 << 20
T = TypeVar("T")


def looks_legacy(head: bytes) -> bool:
    """A pickle opening: PROTO 2+ (`\\x80`), or protocol 0/1 starting with the magic long."""
    return (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5) or head[:1] == b"L"


def read_torch_legacy(fh: IO[bytes], size: int) -> TorchPickle:
    return _over_view(fh, size, lambda view: _read(view, size))


def _over_view(fh: Any, size: int, parse: Callable[[Any], T]) -> T:
    """`parse` over the file's bytes: a memory map of a local file, else growing prefixes."""
    if not hasattr(fh, "read_prefix"):
        with _mapped(fh) as view:
            return parse(view)
    want = _FIRST_PREFIX
    while True:
        want = min(want, size)
        try:
            return parse(fh.read_prefix(want))
        except PickleTruncated as exc:
            needed = exc.needed if exc.needed is not None else want + 1
            if want >= size or want >= _MAX_PREFIX or needed > size:
                raise  # the whole file ends there too
            if needed > _MAX_PREFIX:
                raise LimitExceeded(
                    f"the pickle at the start of the file needs more than {_MAX_PREFIX >> 20} MiB: "
                    "refusing to read it over the network"
                ) from None
            # at least what is known to be needed (a string's length), and at least twice the
            # prefix: each attempt parses from the start, so the steps must grow geometrically
            want = min(max(needed, want * 2), _MAX_PREFIX)


@contextmanager
def _mapped(fh: IO[bytes]) -> Iterator[mmap.mmap]:
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield view


def probe_pickle(fh: IO[bytes], size: int | None = None) -> str:
    """How far torch.load would get running the start of this file as a pickle: it unpickles
    the first pickle of any file that is not a zip (or tar) before it checks the magic
    number, and `weights_only=False` imports and calls whatever that pickle names on the way.
    "complete": the first pickle parses to STOP; "names-globals": it names a global before it
    breaks; "no": neither. Limits of ours reached on the way raise (nothing could be cleared)."""
    def probe(view: Any) -> str:
        probe = Unpickler(view, name="the file read as a pickle", audit=WeightsOnlyAudit())
        try:
            probe.load()
        except (LimitExceeded, UnsafeCheckpointError):
            raise
        except PickleTruncated as exc:
            whole = size is None or len(view) >= size or (exc.needed or 0) > size
            if not whole:
                raise  # a remote prefix: read more of it
            return "names-globals" if probe.globals_seen else "no"
        except CheckpointError:
            return "names-globals" if probe.globals_seen else "no"
        return "complete"

    return _over_view(fh, size if size is not None else 0, probe)


def _read(view: Any, size: int) -> TorchPickle:
    audit = WeightsOnlyAudit()
    magic, pos = small_pickle(view, 0, "magic number", audit)
    if magic != MAGIC_NUMBER:
        raise CheckpointError(
            "a plain pickle, not a torch.save file (it does not start with torch's magic number)"
        )
    version, pos = small_pickle(view, pos, "protocol version", audit)
    if version != PROTOCOL_VERSION:
        raise CheckpointError(f"legacy torch file with unknown protocol version {version!r:.40}")
    sys_info, pos = small_pickle(view, pos, "sys_info", audit)
    notes = []
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        notes.append("saved on a big-endian machine (torch.load byte-swaps it)")
    table = StorageTable(legacy=True)
    main = Unpickler(view, start=pos, persistent_load=table, name="main pickle", audit=audit)
    root = main.load()
    keys, pos = small_pickle(view, main.pos, "storage key list", audit)
    _check_storage_bytes(table, keys, size - pos)
    return TorchPickle(root, table.storages, tuple(main.opaque), tuple(notes), audit.safety())


def small_pickle(
    view: Any, pos: int, what: str, audit: WeightsOnlyAudit
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
        needed += STORAGE_HEADER + ref.nbytes
    if available < needed:
        raise CheckpointError(
            f"truncated legacy torch file: its storages need {needed:,} bytes after the pickles, "
            f"the file has {available:,}"
        )
