"""`read_remote`: resolve a reference to its files, then read the checkpoint layout there (a
single file, a `*.index.json` with its shards, a `from_pretrained` folder) by byte ranges,
shards in parallel, each file's ranges kept in the disk cache."""

from __future__ import annotations

import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ckptlens.checkpoint.hf import (
    INDEX_FILES,
    MAX_CONFIG_BYTES,
    MAX_JSON_BYTES,
    WEIGHT_FILES,
    combine_shards,
    config_of,
    config_versions,
    parse_json,
    read_shard_named,
    weight_map_of,
)
from ckptlens.checkpoint.index import CheckpointError, CheckpointIndex, LimitExceeded
from ckptlens.checkpoint.remote import RemoteRef, parse_ref, ref_cache_key
from ckptlens.checkpoint.remote.listing import Listing
from ckptlens.checkpoint.remote.rangefile import Budget, RangeFile, RemoteObject
from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings

_PARALLEL_SHARDS = 8


def read_remote(text: str, settings: RemoteSettings | None = None) -> CheckpointIndex:
    ref = parse_ref(text)
    settings = settings or RemoteSettings.from_env()
    cache = RemoteCache(settings)
    listing = _resolve(ref, settings, cache)
    if listing.local is not None:
        from ckptlens.checkpoint.reader import read_checkpoint

        index = read_checkpoint(listing.local)
        return replace(
            index,
            notes=(*index.notes, f"{ref.shown}: read from the local Hugging Face cache"),
            bytes_read=0,
        )
    budget = Budget(settings.max_bytes)
    index = _Reader(listing, budget, cache).read()
    if listing.changed:
        _save_listing(ref, listing, cache)
    note = (
        f"read remotely: {budget.transferred:,} bytes in {budget.requests} request(s)"
        + (f", {budget.from_cache:,} bytes from the cache" if budget.from_cache else "")
    )
    return replace(
        index,
        path=ref.shown,
        notes=(*index.notes, *listing.notes, note),
        bytes_read=budget.transferred,
    )


def revalidate_in_background(ref: RemoteRef, settings: RemoteSettings) -> None:
    """Ask again what `ref` resolves to, in a daemon thread (one per reference at a time), and
    keep the answer in the disk cache; errors are left for the next read to report."""
    name = f"ckptlens-revalidate {ref_cache_key(ref)}"
    if any(thread.name == name for thread in threading.enumerate()):
        return
    fresh = replace(settings, ttl=0.0, background=False)

    def run() -> None:
        cache = RemoteCache(fresh)
        try:
            listing = _resolve(ref, fresh, cache)
            if listing.changed:
                _save_listing(ref, listing, cache)
        except Exception:  # noqa: BLE001, S110 - the next read says what is wrong
            pass

    threading.Thread(target=run, name=name, daemon=True).start()


def _resolve(ref: RemoteRef, settings: RemoteSettings, cache: RemoteCache) -> Listing:
    if ref.scheme == "hf":
        from ckptlens.checkpoint.remote.hub import resolve_hub

        return resolve_hub(ref, settings, cache)
    if ref.scheme in ("http", "https"):
        from ckptlens.checkpoint.remote.web import resolve_url

        return resolve_url(ref, settings, cache)
    from ckptlens.checkpoint.remote.objstore import resolve_object_store

    return resolve_object_store(ref, settings, cache)


def _save_listing(ref: RemoteRef, listing: Listing, cache: RemoteCache) -> None:
    from ckptlens.checkpoint.remote.web import save_url_listing

    save_url_listing(ref, listing, cache)


class _Reader:
    def __init__(self, listing: Listing, budget: Budget, cache: RemoteCache) -> None:
        self.listing = listing
        self.budget = budget
        self.cache = cache

    def read(self) -> CheckpointIndex:
        target = self.listing.target
        if target is not None and target.endswith(".index.json"):
            return self._sharded(target)
        if target is not None:
            index = self._file(target)
            return self._with_config(index, posixpath.dirname(target), [])
        names = self.listing.names()
        top = [n for n in names if "/" not in n]
        for name in (*INDEX_FILES, *sorted(n for n in top if n.endswith(".index.json"))):
            if name in top:
                return self._sharded(name)
        weights = next((n for n in WEIGHT_FILES if n in top), None)
        if weights is None:
            single = [n for n in top if n.endswith(".safetensors")]
            weights = single[0] if len(single) == 1 else None
        if weights is None:
            raise CheckpointError(
                f"{self.listing.shown} holds no Hugging Face weights "
                "(no model.safetensors, pytorch_model.bin or *.index.json in it)"
            )
        inner = self._file(weights)
        notes = [f"weights: {weights} ({inner.format})"]
        others = [n for n in WEIGHT_FILES if n != weights and n in top]
        if others:
            notes.append(f"also present, not read: {', '.join(others)}")
        return replace(self._with_config(inner, "", notes), format="hf-folder")

    # -- files --------------------------------------------------------------------------

    def _object(self, name: str, what: str) -> RemoteObject:
        obj = self.listing.get(name)
        if obj is None:
            raise CheckpointError(f"{self.listing.shown}: {what} {name} is missing")
        return obj

    def _open(self, obj: RemoteObject) -> RangeFile:
        blocks = self.cache.load_blocks(obj.key)
        self.budget.cached(sum(len(b) for b in blocks.values()))
        return RangeFile(obj, self.budget, blocks)

    def _keep(self, fh: RangeFile) -> None:
        if fh.fetched:
            self.cache.save_blocks(fh.obj.key, fh.segments())

    def _file(self, name: str, what: str = "checkpoint file") -> CheckpointIndex:
        return self._read_object(self._object(name, what))

    def _small(self, name: str, cap: int, what: str) -> bytes:
        obj = self._object(name, what)
        if obj.size > cap:
            raise LimitExceeded(f"{what} {obj.shown} is {obj.size:,} bytes, more than the {cap:,} allowed")
        fh = self._open(obj)
        try:
            return fh.pread(0, obj.size) if obj.size else b""
        finally:
            self._keep(fh)

    def _config(self, folder: str, notes: list[str]) -> dict[str, Any] | None:
        name = posixpath.join(folder, "config.json") if folder else "config.json"
        if self.listing.get(name) is None:
            return None
        try:
            raw = self._small(name, MAX_CONFIG_BYTES, "config")
        except LimitExceeded as exc:
            notes.append(f"{exc}; ignored")
            return None
        return config_of(raw, notes)

    def _with_config(
        self, index: CheckpointIndex, folder: str, notes: list[str]
    ) -> CheckpointIndex:
        config = self._config(folder, notes)
        if config is not None:
            notes.insert(0, "config.json beside the file: read")
        return replace(
            index,
            config=config,
            versions={**index.versions, **config_versions(config)},
            notes=(*notes, *index.notes),
        )

    def _sharded(self, index_name: str) -> CheckpointIndex:
        folder = posixpath.dirname(index_name)
        raw = self._small(index_name, MAX_JSON_BYTES, "shard index")
        short = posixpath.basename(index_name)
        weight_map = weight_map_of(parse_json(raw, "shard index", short), short)
        names: dict[str, str] = {}
        for written in sorted(set(weight_map.values())):
            if written.startswith("/") or ".." in written.split("/"):
                raise CheckpointError(
                    f"shard index {short} names a file outside its folder: {written}"
                )
            name = posixpath.normpath(posixpath.join(folder, written))
            names.setdefault(name, posixpath.normpath(written))

        def one(item: tuple[str, str]) -> tuple[str, CheckpointIndex]:
            name, shown = item  # looked up here: over plain HTTP, that is a HEAD per shard
            obj = self._object(name, "shard")
            return shown, read_shard_named(shown, lambda: self._read_object(obj))

        with ThreadPoolExecutor(max(1, min(_PARALLEL_SHARDS, len(names)))) as pool:
            shards = list(pool.map(one, names.items()))
        notes: list[str] = []
        config = self._config(folder, notes)
        return combine_shards(self.listing.shown, short, weight_map, shards, config, notes, 0)

    def _read_object(self, obj: RemoteObject) -> CheckpointIndex:
        from ckptlens.checkpoint.reader import read_stream

        fh = self._open(obj)
        try:
            return read_stream(fh, obj.size, obj.shown, shown=obj.shown)
        finally:
            self._keep(fh)
