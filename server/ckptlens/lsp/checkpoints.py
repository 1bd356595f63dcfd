"""Checkpoint indexes cached in the server by path, valid while the file's stamp (size and
mtime; a folder's files'; a remote file's resolved revision) stays the same."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.checkpoint.remote import is_remote
from ckptlens.checkpoint.remote.stamps import remote_stamp


@dataclass
class CheckpointCache:
    """Checkpoint indexes (or their one-line read errors) by path, valid while the file's
    size and mtime stay the same. LRU-bounded."""

    size: int = 32
    _entries: OrderedDict[str, tuple[Any, CheckpointIndex | str]] = field(
        default_factory=OrderedDict
    )

    def get(self, path: str, stamp: Any) -> CheckpointIndex | str | None:
        entry = self._entries.get(path)
        if entry is None or entry[0] != stamp:
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def put(self, path: str, stamp: Any, value: CheckpointIndex | str) -> None:
        self._entries[path] = (stamp, value)
        self._entries.move_to_end(path)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, path: str) -> None:
        self._entries.pop(path, None)


def checkpoint_stamp(path: str) -> Any:
    """Size and mtime of a file, or of the files of a folder (shallow): the cache key."""
    if is_remote(path):  # what the remote cache says it resolved to (revalidated meanwhile)
        return remote_stamp(path)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        # the config.json beside a file is read with it (SPEC section 3)
        beside = os.path.join(os.path.dirname(path), "config.json")
        try:
            cst = os.stat(beside)
            return (st.st_size, st.st_mtime_ns, cst.st_size, cst.st_mtime_ns)
        except OSError:
            return (st.st_size, st.st_mtime_ns)
    entries = []
    try:
        with os.scandir(path) as listing:
            for entry in listing:
                try:
                    est = entry.stat()
                except OSError:
                    continue
                entries.append((entry.name, est.st_size, est.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(entries))
