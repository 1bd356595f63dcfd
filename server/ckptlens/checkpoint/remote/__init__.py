"""Checkpoints that live elsewhere — `hf://ORG/NAME[@REVISION][/SUBFOLDER]`, `s3://`, `gs://`,
`az://`, `http(s)://` — read by byte ranges: safetensors headers, zip directories and pickles,
never tensor data. This module only parses references; the readers (and huggingface_hub,
fsspec) are imported when a remote checkpoint is actually read."""

from ckptlens.checkpoint.remote.ref import (
    SCHEMES,
    RemoteRef,
    hub_ref,
    is_remote,
    is_unavailable,
    parse_ref,
    ref_cache_key,
    safe_reference,
)

__all__ = [
    "SCHEMES",
    "RemoteRef",
    "hub_ref",
    "is_remote",
    "is_unavailable",
    "parse_ref",
    "ref_cache_key",
    "safe_reference",
]
