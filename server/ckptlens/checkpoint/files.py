"""Opening a path the user named: only regular files, checked before anything is opened.

A FIFO blocks `open` until a writer appears, `/dev/stdin` is the language server's own
JSON-RPC input, `/dev/zero` never ends: each is refused from its `stat` first, and the file is
then opened non-blocking and checked again on its descriptor (the path may have been swapped
in between), so no read ever waits on something that is not a file.
"""

from __future__ import annotations

import os
import stat
from typing import IO

from ckptlens.checkpoint.index import CheckpointError

_KINDS = (
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def kind_of(mode: int) -> str:
    for test, what in _KINDS:
        if test(mode):
            return what
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str = "file") -> IO[bytes]:
    """`open(path, "rb", buffering=0)` for a regular file; a `CheckpointError` for anything
    else (missing, a FIFO, a device, a socket, a folder), raised before it is opened."""
    shown = os.fspath(path)
    try:
        info = os.stat(shown)
    except FileNotFoundError:
        raise CheckpointError(f"no such {what}: {shown}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{what} {shown} is {kind_of(info.st_mode)}, not a regular file")
    fd = os.open(shown, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CheckpointError(f"{what} {shown} is {kind_of(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes."""
    with open_regular(path, what) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise CheckpointError(
                f"{what} {os.fspath(path)} is {size:,} bytes, more than the {max_bytes:,} allowed"
            )
        chunks = []
        left = max_bytes + 1
        while left > 0:  # read to the end, not to st_size: the file may grow meanwhile
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise CheckpointError(f"{what} {os.fspath(path)} is more than {max_bytes:,} bytes")
    return data
