"""Which files an analysis read, with their stamps as read: what a cached result depends on.

`recording()` collects, for the code run inside it (this thread and the analysis it starts),
every source file the loader parsed and every other file or folder the engine looked into
(the lazy-export indexes, timm's registry, transformers' conversion table). The CLI's result
cache (`ckptlens.result_cache`) stores the stamps beside the answer and reuses the answer only
while every stamp is unchanged. Outside a recording, `note` costs one list check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

Stamp = list[int] | None  # [size, mtime_ns] (a folder: [-1, mtime_ns]); None: absent

_active: list[dict[str, Stamp]] = []


def stamp_of(path: str) -> Stamp:
    """The stamp of a file (size, mtime) or a folder (its mtime, which changes when an entry is
    added, removed or renamed), None when absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return [-1, st.st_mtime_ns]
    return [st.st_size, st.st_mtime_ns]


def note(path: str, stamp: Stamp | tuple[int, int] = None) -> None:
    """`path` was read. `stamp` is its (size, mtime_ns) as read, when the reader has it
    (otherwise it is taken now, before the caller reads)."""
    if not _active:
        return
    value: Stamp = list(stamp) if stamp is not None else stamp_of(path)
    folder = os.path.dirname(path)
    for reads in _active:
        reads.setdefault(path, value)
        if folder not in reads:  # a module added beside it may now shadow what was imported
            reads[folder] = stamp_of(folder)


def recording_active() -> bool:
    return bool(_active)


@contextmanager
def recording() -> Iterator[dict[str, Stamp]]:
    """Collect `path -> stamp` of what is read inside the block."""
    reads: dict[str, Stamp] = {}
    _active.append(reads)
    try:
        yield reads
    finally:
        _active.remove(reads)
