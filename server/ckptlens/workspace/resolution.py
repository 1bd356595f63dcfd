"""Where a link's checkpoint is: a path tried from the search folders, or a hub id in the local
Hugging Face cache."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence

from ckptlens.checkpoint.remote import hub_ref, is_remote
from ckptlens.hf_cache import hub_cache_dir
from ckptlens.workspace.model import FROM_PRETRAINED, Link, Resolution

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".pkl", ".tar", ".json")


def default_hf_cache() -> str:
    return hub_cache_dir()


def hub_snapshot(hub_id: str, cache_dir: str) -> str | None:
    """The local snapshot folder of a hub model (`refs/main` first, else the newest)."""
    folder = os.path.join(cache_dir, "models--" + hub_id.replace("/", "--"))
    if not os.path.isdir(folder):
        return None
    try:
        with open(os.path.join(folder, "refs", "main"), encoding="utf-8") as handle:
            revision = handle.read().strip()
        candidate = os.path.join(folder, "snapshots", revision)
        if revision and os.path.isdir(candidate):
            return candidate
    except OSError:
        pass
    snapshots = [p for p in glob.glob(os.path.join(folder, "snapshots", "*")) if os.path.isdir(p)]
    return max(snapshots, key=os.path.getmtime) if snapshots else None


def resolve_checkpoint(link: Link, hf_cache: str | None = None) -> Resolution:
    return resolve_path(
        link.checkpoint, link.search_dirs, hub=link.kind == FROM_PRETRAINED, hf_cache=hf_cache
    )


def resolve_path(
    written: str, search_dirs: Sequence[str], *, hub: bool = False, hf_cache: str | None = None
) -> Resolution:
    if is_remote(written):  # hf://, s3://, https://...: read by ranges when checked
        return Resolution(written, (written,))
    expanded = os.path.expanduser(os.path.expandvars(written))
    candidates = (
        [expanded] if os.path.isabs(expanded) else [os.path.join(d, expanded) for d in search_dirs]
    )
    candidates = list(dict.fromkeys(os.path.normpath(c) for c in candidates))
    for candidate in candidates:
        if os.path.exists(candidate):
            return Resolution(candidate, tuple(candidates))
    if hub and _HUB_ID.match(written) and not written.endswith(_CHECKPOINT_SUFFIXES):
        cache = hf_cache or default_hf_cache()
        snapshot = hub_snapshot(written, cache)
        if snapshot is not None:
            return Resolution(snapshot, (*candidates, snapshot))
        # Not cached: read from the Hub by ranges (headers only). When the Hub cannot be
        # reached (offline), the read's error becomes `hub-not-cached` (workspace/rules.py).
        return Resolution(
            hub_ref(written),
            (*candidates, os.path.join(cache, "models--" + written.replace("/", "--"))),
            hub_id=written,
        )
    return Resolution(None, tuple(candidates))
