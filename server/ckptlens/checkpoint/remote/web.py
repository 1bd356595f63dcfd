"""`http(s)://` checkpoints: one HEAD for the size and ETag, then ranged GETs. Files next to
it (`config.json`, the shards of a `*.index.json`) are found relative to its URL."""

from __future__ import annotations

import base64
import posixpath
import time
import urllib.parse

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.remote import RemoteRef, ref_cache_key
from ckptlens.checkpoint.remote.http import RemoteError, request, shown_url, total_size
from ckptlens.checkpoint.remote.listing import FileInfo, Listing, known_from_json
from ckptlens.checkpoint.remote.rangefile import RemoteObject
from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings

_ABSENT = frozenset({401, 403, 404, 410})


def _split_credentials(url: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}


def resolve_url(ref: RemoteRef, settings: RemoteSettings, cache: RemoteCache) -> Listing:
    url, auth = _split_credentials(ref.text)
    path = urllib.parse.urlsplit(url).path
    target = urllib.parse.unquote(posixpath.basename(path))
    if not target:
        raise CheckpointError(f"{ref.shown}: a URL must name a checkpoint file, not a folder")

    def info_of(target_url: str, probing: bool) -> FileInfo | None:
        try:
            head = request(target_url, settings, method="HEAD", auth=auth)
            size = total_size(head)
            if size is None:
                head = request(target_url, settings, byte_range=(0, 1), auth=auth)
                size = total_size(head)
        except RemoteError as exc:
            if probing and exc.status in _ABSENT:
                return None
            raise
        if size is None:
            raise CheckpointError(f"{shown_url(target_url)}: the server does not say its size")
        tag = head.headers.get("ETag") or head.headers.get("Last-Modified") or ""
        return size, tag

    def make(name: str, size: int, tag: str) -> RemoteObject:
        target_url = urllib.parse.urljoin(url, urllib.parse.quote(name))
        shown = shown_url(target_url)

        def fetch(start: int, end: int) -> bytes:
            return request(target_url, settings, byte_range=(start, end), auth=auth, shown=shown).body

        return RemoteObject(name, shown, size, f"{shown}#{size}#{tag}", fetch)

    def probe(name: str) -> FileInfo | None:
        return info_of(urllib.parse.urljoin(url, urllib.parse.quote(name)), True)

    cached = cache.load_ref(ref_cache_key(ref))
    stale_ok = settings.offline or settings.background
    if cached is not None and (stale_ok or time.time() - cached[0] < settings.ttl):
        known = known_from_json(cached[1])
        if known.get(target) is not None:
            return Listing(ref.shown, make, known, target, complete=False, probe=probe)
    if settings.offline:
        raise CheckpointError(
            f"{ref.shown}: offline (HF_HUB_OFFLINE / CKPTLENS_REMOTE_OFFLINE) and not in the cache"
        )
    info = info_of(url, False)
    listing = Listing(ref.shown, make, {target: info}, target, complete=False, probe=probe)
    listing.changed = True
    return listing


def save_url_listing(ref: RemoteRef, listing: Listing, cache: RemoteCache) -> None:
    cache.save_ref(ref_cache_key(ref), listing.to_json())
