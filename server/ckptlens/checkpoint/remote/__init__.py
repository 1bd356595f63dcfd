"""Checkpoints that live elsewhere — `hf://ORG/NAME[@REVISION][/SUBFOLDER]`, `s3://`, `gs://`,
`az://`, `http(s)://` — read by byte ranges: safetensors headers, zip directories and pickles,
never tensor data. This module only parses references; the readers (and huggingface_hub,
fsspec) are imported when a remote checkpoint is actually read."""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMES = ("hf", "s3", "gs", "gcs", "az", "abfs", "http", "https")
_REF = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_HUB_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_remote(text: str) -> bool:
    match = _REF.match(text)
    return match is not None and match.group("scheme").lower() in SCHEMES


@dataclass(frozen=True)
class RemoteRef:
    scheme: str  # hf, s3, gs, az, http, https (gcs -> gs, abfs -> az)
    text: str  # as written
    repo: str = ""  # hf: ORG/NAME
    revision: str | None = None  # hf: a branch, tag or commit
    subfolder: str = ""  # hf: a folder or file inside the repo

    @property
    def shown(self) -> str:
        if self.scheme == "hf":
            rev = f"@{self.revision}" if self.revision else ""
            sub = f"/{self.subfolder}" if self.subfolder else ""
            return f"hf://{self.repo}{rev}{sub}"
        from ckptlens.checkpoint.remote.http import shown_url

        return shown_url(self.text)


def parse_ref(text: str) -> RemoteRef:
    """A reference as written; a `CheckpointError` (one line) when it is malformed."""
    from ckptlens.checkpoint.index import CheckpointError

    match = _REF.match(text)
    scheme = match.group("scheme").lower() if match else ""
    if scheme not in SCHEMES:
        raise CheckpointError(f"not a remote checkpoint reference: {text[:200]!r}")
    scheme = {"gcs": "gs", "abfs": "az"}.get(scheme, scheme)
    if scheme != "hf":
        return RemoteRef(scheme, text)
    rest = text[len(match.group(0)) :] if match else ""
    parts = [p for p in rest.split("/") if p]
    repo_parts = parts[:2] if len(parts) >= 2 and "@" not in parts[0] else parts[:1]
    if repo_parts and "@" in repo_parts[-1]:
        name, revision = repo_parts[-1].split("@", 1)
        repo_parts = [*repo_parts[:-1], name]
    else:
        revision = None
    if not repo_parts or not all(_HUB_PART.match(p) for p in repo_parts) or revision == "":
        raise CheckpointError(
            f"malformed hub reference {text[:200]!r}: expected hf://ORG/NAME[@REVISION][/SUBFOLDER]"
        )
    subfolder = "/".join(parts[len(repo_parts) :])
    if ".." in subfolder.split("/"):
        raise CheckpointError(f"malformed hub reference {text[:200]!r}: `..` in its subfolder")
    return RemoteRef("hf", text, "/".join(repo_parts), revision, subfolder)


# Messages of reads that got no answer (offline, unreachable): the editor and the workspace
# check keep calling such a hub id `hub-not-cached` (information), not a broken checkpoint.
UNAVAILABLE_MARKERS = (": cannot reach ", ": offline (")


def is_unavailable(message: str) -> bool:
    return any(marker in message for marker in UNAVAILABLE_MARKERS)


def hub_ref(hub_id: str) -> str:
    """The `hf://` reference of a bare hub id written in `from_pretrained("org/name")`."""
    return f"hf://{hub_id}"


def ref_cache_key(ref: RemoteRef) -> str:
    """The key under which the disk cache keeps what `ref` resolved to."""
    if ref.scheme == "hf":
        import os

        endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        return f"hf:{endpoint}/{ref.repo}@{ref.revision or 'main'}"
    if ref.scheme in ("http", "https"):
        return "url:" + ref.text
    return f"{ref.scheme}:{ref.text}"


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


def safe_reference(text: str) -> str:
    """`text` as it may be shown: without a URL's user part, password or query."""
    try:
        return parse_ref(text).shown
    except Exception:  # noqa: BLE001 - a malformed reference is shown cut short
        return text.split("?", 1)[0].split("@", 1)[-1][:200]
