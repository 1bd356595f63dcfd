"""Where `from_pretrained(name_or_path)` finds a model's `config.json` without running anything
or using the network: a local folder (absolute, or relative to the file that makes the call),
else the Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`) at
the revision asked (`main` by default). Only the JSON is read, at most MAX_BYTES; every path
looked at is noted (`engine.reads`), so a cached answer is dropped once the file appears."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ckptlens.engine import reads
from ckptlens.hf_cache import hub_cache_dir

MAX_BYTES = 4 << 20
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _read_json(path: str) -> dict[str, Any] | None:
    reads.note(path)
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _snapshot(repo_id: str, revision: str | None) -> str | None:
    folder = os.path.join(hub_cache_dir(), "models--" + repo_id.replace("/", "--"))
    reads.note(folder)
    revision = revision or "main"
    if _COMMIT.match(revision):
        commit: str | None = revision
    else:
        ref = os.path.join(folder, "refs", revision)
        reads.note(ref)
        try:
            with open(ref, encoding="utf-8") as handle:
                commit = handle.read(100).strip()
        except OSError:
            return None
    if not commit or not _COMMIT.match(commit):
        return None
    return os.path.join(folder, "snapshots", commit)


def pretrained_config(name: str, from_file: str, subfolder: str = "", revision: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """(the model's config.json as a dict, or None; where it was looked for, for messages)."""
    local = os.path.expanduser(name)
    if not os.path.isabs(local):
        local = os.path.join(os.path.dirname(os.path.abspath(from_file)), local)
    local_config = os.path.join(local, subfolder, "config.json")
    if os.path.isdir(local):
        return _read_json(local_config), local_config
    reads.note(local)  # a folder of that name appearing beside the file changes the answer
    if not _REPO_ID.match(name) or ".." in name:
        return None, local_config
    snapshot = _snapshot(name, revision)
    if snapshot is None:
        return None, f"the Hugging Face cache ({hub_cache_dir()})"
    path = os.path.join(snapshot, subfolder, "config.json")
    return _read_json(path), path
