"""Settings of remote reads (from the environment) and their disk cache.

The cache lives under the user's cache folder (`CKPTLENS_REMOTE_CACHE` overrides it):
`refs/` keeps what a reference resolved to (the commit of a hub revision, the files with
their sizes and ETags) with the time it was asked; `blocks/` keeps the byte ranges read from
each object, keyed by its URL plus ETag or commit, so they are valid for as long as the object
is the same. Nothing there holds a credential: keys are hashes, URLs are stored without their
user part or query."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BLOCK = struct.Struct("<QQ")  # start, length, then the bytes
_MAX_CACHED_BLOCKS = 512 << 20  # an object's cached ranges beyond this are not kept


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def default_cache_dir() -> Path:
    if os.environ.get("CKPTLENS_REMOTE_CACHE"):
        return Path(os.environ["CKPTLENS_REMOTE_CACHE"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "ckptlens" / "remote"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ckptlens" / "remote"


@dataclass(frozen=True)
class RemoteSettings:
    cache_dir: Path
    ttl: float  # seconds a resolved reference is trusted without asking again
    max_bytes: int  # network bytes one checkpoint may cost
    timeout: float  # seconds per request
    retries: int  # attempts after the first, with back-off, on time-outs and 5xx/429
    offline: bool  # cache only (HF_HUB_OFFLINE / CKPTLENS_REMOTE_OFFLINE)
    use_cache: bool = True
    # the language server: a stale cached answer is used at once and revalidated in a thread
    background: bool = False

    @staticmethod
    def from_env() -> RemoteSettings:
        return RemoteSettings(
            cache_dir=default_cache_dir(),
            ttl=_number("CKPTLENS_REMOTE_TTL", 600.0),
            max_bytes=int(_number("CKPTLENS_REMOTE_MAX_BYTES", 512 << 20)),
            timeout=_number("CKPTLENS_REMOTE_TIMEOUT", 30.0),
            retries=int(_number("CKPTLENS_REMOTE_RETRIES", 3)),
            offline=_flag("HF_HUB_OFFLINE") or _flag("CKPTLENS_REMOTE_OFFLINE"),
            use_cache=not _flag("CKPTLENS_REMOTE_NO_CACHE"),
            background=os.environ.get("CKPTLENS_REMOTE_REVALIDATE", "") == "background",
        )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class RemoteCache:
    """The disk cache. Failures to write it are ignored: it only saves network."""

    def __init__(self, settings: RemoteSettings) -> None:
        self.root = settings.cache_dir
        self.enabled = settings.use_cache

    # -- references ---------------------------------------------------------------------

    def load_ref(self, ref: str) -> tuple[float, dict[str, Any]] | None:
        """What `ref` resolved to, and when (seconds since the epoch)."""
        if not self.enabled:
            return None
        try:
            raw = json.loads((self.root / "refs" / f"{_digest(ref)}.json").read_text("utf-8"))
            return float(raw["at"]), dict(raw["value"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save_ref(self, ref: str, value: dict[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            data = json.dumps({"at": time.time(), "value": value}).encode()
            _write_atomic(self.root / "refs" / f"{_digest(ref)}.json", data)
        except OSError:
            pass

    # -- blocks -------------------------------------------------------------------------

    def _blocks_path(self, key: str) -> Path:
        digest = _digest(key)
        return self.root / "blocks" / digest[:2] / digest

    def load_blocks(self, key: str) -> dict[int, bytes]:
        if not self.enabled:
            return {}
        try:
            raw = self._blocks_path(key).read_bytes()
        except OSError:
            return {}
        blocks: dict[int, bytes] = {}
        pos = 0
        while pos + _BLOCK.size <= len(raw):
            start, length = _BLOCK.unpack_from(raw, pos)
            pos += _BLOCK.size
            if pos + length > len(raw):
                return {}  # cut short: ignore the whole entry
            blocks[start] = raw[pos : pos + length]
            pos += length
        return blocks

    def save_blocks(self, key: str, blocks: dict[int, bytes]) -> None:
        if not self.enabled or not blocks:
            return
        if sum(len(b) for b in blocks.values()) > _MAX_CACHED_BLOCKS:
            return
        data = b"".join(
            _BLOCK.pack(start, len(chunk)) + chunk for start, chunk in sorted(blocks.items())
        )
        try:
            _write_atomic(self._blocks_path(key), data)
        except OSError:
            pass
