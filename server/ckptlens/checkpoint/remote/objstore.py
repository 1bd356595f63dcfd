"""`s3://`, `gs://`, `az://` through fsspec (s3fs, gcsfs, adlfs: `pip install
'ckptlens[remote]'`), with the credentials those libraries read themselves (environment,
profiles, instance roles; fsspec's `FSSPEC_S3_ENDPOINT_URL`-style settings). A reference to a
folder (prefix) lists it once; a file is listed with its folder, for `config.json` and shards."""

from __future__ import annotations

import posixpath
import time
from typing import Any

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.remote import RemoteRef, ref_cache_key
from ckptlens.checkpoint.remote.http import RemoteError
from ckptlens.checkpoint.remote.listing import FileInfo, Listing, known_from_json
from ckptlens.checkpoint.remote.rangefile import RemoteObject
from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings

_PROTOCOL = {"s3": "s3", "gs": "gcs", "az": "az"}
_PACKAGE = {"s3": "s3fs", "gs": "gcsfs", "az": "adlfs"}


def _filesystem(ref: RemoteRef) -> Any:
    try:
        import fsspec

        return fsspec.filesystem(_PROTOCOL[ref.scheme])
    except ImportError:
        raise CheckpointError(
            f"{ref.shown}: reading {ref.scheme}:// needs fsspec and {_PACKAGE[ref.scheme]} "
            "(pip install 'ckptlens[remote]')"
        ) from None
    except Exception as exc:  # noqa: BLE001 - bad configuration: one line
        raise CheckpointError(f"{ref.shown}: cannot set up {ref.scheme}:// ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:160]


def _failure(exc: BaseException, shown: str) -> CheckpointError:
    if isinstance(exc, CheckpointError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return RemoteError(f"{shown}: not found", 404)
    if isinstance(exc, PermissionError):
        return RemoteError(f"{shown}: access denied (check the credentials the library reads)", 403)
    return RemoteError(f"{shown}: cannot read it ({_reason(exc)})")


def _tag(entry: dict[str, Any]) -> str:
    for name in ("ETag", "etag", "md5Hash", "md5_hash", "generation", "last_modified", "LastModified"):
        value = entry.get(name)
        if value:
            return str(value)
    return ""


def resolve_object_store(ref: RemoteRef, settings: RemoteSettings, cache: RemoteCache) -> Listing:
    scheme_len = len(ref.scheme) + 3
    path = ref.text[ref.text.index("://") + 3 :] if "://" in ref.text else ref.text[scheme_len:]
    path = path.rstrip("/")
    state: dict[str, Any] = {}

    def fs() -> Any:
        if "fs" not in state:
            state["fs"] = _filesystem(ref)
        return state["fs"]

    key = ref_cache_key(ref)
    cached = cache.load_ref(key)
    stale_ok = settings.offline or settings.background
    if cached is not None and (stale_ok or time.time() - cached[0] < settings.ttl):
        folder = str(cached[1]["folder"])
        known = known_from_json(cached[1])
        target = cached[1].get("target")
    elif settings.offline:
        raise CheckpointError(
            f"{ref.shown}: offline (CKPTLENS_REMOTE_OFFLINE / HF_HUB_OFFLINE) and not in the cache"
        )
    else:
        folder, known, target = _list(fs(), path, ref.shown)
        cache.save_ref(key, {"folder": folder, "known": {k: list(v) for k, v in known.items() if v}, "target": target})

    def make(name: str, size: int, tag: str) -> RemoteObject:
        full = f"{folder}/{name}" if folder else name
        shown = f"{ref.scheme}://{full}"

        def fetch(start: int, end: int) -> bytes:
            try:
                return bytes(fs().cat_file(full, start=start, end=end))
            except Exception as exc:  # noqa: BLE001 - whatever the library raises: one line
                raise _failure(exc, shown) from None

        return RemoteObject(name, shown, size, f"{shown}#{tag}", fetch)

    return Listing(ref.shown, make, known, target)


def _list(fs: Any, path: str, shown: str) -> tuple[str, dict[str, FileInfo | None], str | None]:
    try:
        info = fs.info(path)
        if info.get("type") == "directory":
            folder, target = path, None
            entries = fs.find(path, detail=True, maxdepth=2)
        else:
            folder, target = posixpath.dirname(path), posixpath.basename(path)
            entries = fs.find(folder, detail=True, maxdepth=1) if folder else {path: info}
    except Exception as exc:  # noqa: BLE001
        raise _failure(exc, shown) from None
    known: dict[str, FileInfo | None] = {}
    prefix = folder.rstrip("/") + "/"
    for name, entry in dict(entries).items():
        name = name.rstrip("/")
        if entry.get("type", "file") != "file" or not name.startswith(prefix):
            continue
        known[name[len(prefix) :]] = (int(entry.get("size") or 0), _tag(entry))
    if target is not None and target not in known:
        known[target] = (int(info.get("size") or 0), _tag(info))
    return folder, known, target
