"""What a remote reference resolved to, as a cache stamp (the language server's and the
workspace check's): read from the disk cache, revalidated in the background when stale."""

from __future__ import annotations

from ckptlens.checkpoint.remote.ref import parse_ref, ref_cache_key


def fresh_stamp(text: str) -> object:
    """`remote_stamp` while the cached resolution is within its TTL; past it (or when there is
    none), a value that differs from every earlier one: a run cache keyed by it asks again."""
    import time

    from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings

    try:
        ref = parse_ref(text)
    except Exception:  # noqa: BLE001
        return None
    settings = RemoteSettings.from_env()
    cached = RemoteCache(settings).load_ref(ref_cache_key(ref))
    if cached is None or (not settings.offline and time.time() - cached[0] >= settings.ttl):
        return ["unknown", time.time()]
    import json

    return json.dumps(cached[1], sort_keys=True)


def remote_stamp(text: str) -> object:
    """What the disk cache says `text` resolved to (commit, sizes, ETags), or None: the
    language server re-checks when it changes. With background revalidation on (`ckptlens
    lsp`), a stale entry is revalidated meanwhile, in a thread; the answer lands in the cache."""
    from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings

    try:
        ref = parse_ref(text)
    except Exception:  # noqa: BLE001 - a malformed reference has no stamp
        return None
    settings = RemoteSettings.from_env()
    cached = RemoteCache(settings).load_ref(ref_cache_key(ref))
    if cached is None:
        return None
    if settings.background and not settings.offline:
        import time

        if time.time() - cached[0] >= settings.ttl:
            from ckptlens.checkpoint.remote.read import revalidate_in_background

            revalidate_in_background(ref, settings)
    import json

    return json.dumps(cached[1], sort_keys=True)
