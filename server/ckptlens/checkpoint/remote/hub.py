"""`hf://ORG/NAME[@REVISION][/SUBFOLDER]`: the local Hugging Face cache first (a complete
snapshot is read as a local folder), then the Hub's API for the revision's commit and file
sizes (`HF_ENDPOINT`; `HF_TOKEN`, else the login huggingface_hub stored), then ranged reads of
`resolve/<commit>/<file>`: a commit never changes, so its bytes are cached for good."""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
import time
import urllib.parse

from ckptlens.checkpoint.index import CheckpointError
from ckptlens.checkpoint.remote.http import (
    RemoteError,
    RemoteUnavailable,
    request,
    status_message,
)
from ckptlens.checkpoint.remote.listing import FileInfo, Listing, known_from_json
from ckptlens.checkpoint.remote.rangefile import RemoteObject
from ckptlens.checkpoint.remote.ref import RemoteRef, ref_cache_key
from ckptlens.checkpoint.remote.store import RemoteCache, RemoteSettings
from ckptlens.hf_cache import hub_cache_dir

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_LOGIN_HINT = " (set HF_TOKEN or run `hf auth login`)"


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _token_path() -> str:
    """Where `hf auth login` keeps the login (huggingface_hub's `constants.HF_TOKEN_PATH`)."""
    home = os.path.expandvars(os.path.expanduser(os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )))
    return os.path.expandvars(os.path.expanduser(os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token")))


def _token_from_files() -> str | None:
    """The stored login, where `hf auth login` writes it, without huggingface_hub."""
    path = _token_path()
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def local_snapshot(ref: RemoteRef) -> str | None:
    """The folder (or file) of a complete copy in the Hugging Face cache, or None."""
    from ckptlens.checkpoint.hf import INDEX_FILES, WEIGHT_FILES

    repo_dir = os.path.join(hub_cache_dir(), "models--" + ref.repo.replace("/", "--"))
    revision = ref.revision or "main"
    commit = revision if _COMMIT.match(revision) else None
    if commit is None:
        try:
            with open(os.path.join(repo_dir, "refs", revision), encoding="utf-8") as fh:
                commit = fh.read().strip()
        except OSError:
            return None
    base = os.path.join(repo_dir, "snapshots", commit, *ref.subfolder.split("/"))
    base = base.rstrip(os.sep)
    if os.path.isfile(base):
        return base
    if not os.path.isdir(base):
        return None
    names = os.listdir(base)
    for name in (*INDEX_FILES, *sorted(n for n in names if n.endswith(".index.json"))):
        if name in names:
            return base if _shards_present(os.path.join(base, name)) else None
    if any(os.path.isfile(os.path.join(base, n)) for n in WEIGHT_FILES):
        return base
    return None


def _shards_present(index_path: str) -> bool:
    import json

    try:
        with open(index_path, encoding="utf-8") as fh:
            weight_map = json.load(fh).get("weight_map", {})
        folder = os.path.dirname(index_path)
        return all(os.path.isfile(os.path.join(folder, n)) for n in set(weight_map.values()))
    except (OSError, ValueError, AttributeError):
        return False


def resolve_hub(ref: RemoteRef, settings: RemoteSettings, cache: RemoteCache) -> Listing:
    local = local_snapshot(ref)
    if local is not None:
        return Listing(ref.shown, _no_object, {}, local=local)
    base = endpoint()
    revision = ref.revision or "main"
    key = ref_cache_key(ref)
    cached = cache.load_ref(key)
    fresh = cached is not None and (
        settings.offline
        or settings.background  # stale: used now, revalidated in a thread (remote_stamp)
        or _COMMIT.match(revision)
        or time.time() - cached[0] < settings.ttl
    )
    if cached is not None and fresh:
        commit, files = str(cached[1]["commit"]), known_from_json(cached[1])
    elif settings.offline:
        raise CheckpointError(
            f"{ref.shown}: offline (HF_HUB_OFFLINE or CKPTLENS_REMOTE_OFFLINE) and it is neither in the Hugging Face "
            "cache nor in ckptlens's: run once online, or download it"
        )
    else:
        commit, files = _model_info(ref, base, revision, settings)
        cache.save_ref(key, {"commit": commit, "known": {k: list(v) for k, v in files.items() if v}})
    sub = ref.subfolder.strip("/")
    if sub and sub in files:  # the reference names one file
        folder = posixpath.dirname(sub)
        target: str | None = posixpath.basename(sub)
    else:
        folder, target = sub, None

    def make(name: str, size: int, tag: str) -> RemoteObject:
        path = posixpath.join(folder, name) if folder else name
        url = f"{base}/{ref.repo}/resolve/{commit}/{urllib.parse.quote(path)}"
        shown = f"hf://{ref.repo}@{commit[:12]}/{path}"

        def fetch(start: int, end: int) -> bytes:
            auth = _auth()  # only now: huggingface_hub is imported only when the network is used
            hint = _LOGIN_HINT if not auth else ""
            return request(url, settings, byte_range=(start, end), auth=auth, shown=shown, hint=hint).body

        return RemoteObject(name, shown, size, f"{url}#{tag}", fetch)

    prefix = f"{folder}/" if folder else ""
    known: dict[str, FileInfo | None] = {
        name[len(prefix) :]: info for name, info in files.items() if name.startswith(prefix)
    }
    if target is None and not known:
        what = f"folder {sub}" if sub else "any file"
        raise CheckpointError(f"{ref.shown}: the repository has no {what} at {commit[:12]}")
    return Listing(ref.shown, make, known, target)


def _no_object(name: str, size: int, tag: str) -> RemoteObject:
    raise CheckpointError(f"{name}: a local copy is read instead")


@functools.lru_cache(maxsize=1)
def _auth() -> dict[str, str]:
    token: str | None = (os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if not token and not os.environ.get("HF_OIDC_RESOURCE") and not os.environ.get("COLAB_RELEASE_TAG"):
        if not os.path.exists(_token_path()):
            return {}  # no login anywhere: not worth importing huggingface_hub (~0.2 s) to learn it
    if not token:
        try:  # huggingface_hub knows every place a login is kept (and refreshes OAuth logins)
            from huggingface_hub import get_token

            token = get_token()
        except ImportError:
            token = _token_from_files()
        except Exception:  # noqa: BLE001 - no stored login is no token
            token = None
    return {"Authorization": f"Bearer {token}"} if token else {}


def _model_info(
    ref: RemoteRef, base: str, revision: str, settings: RemoteSettings
) -> tuple[str, dict[str, FileInfo | None]]:
    """The revision's commit and its files' sizes: `GET /api/models/REPO/revision/REV?blobs=true`,
    the request `huggingface_hub.HfApi.model_info(..., files_metadata=True)` makes, answered
    the same way (errors by the Hub's `X-Error-Code`); made directly, since importing the
    library's API module alone costs half a second."""
    auth = _auth()
    url = f"{base}/api/models/{ref.repo}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
    try:
        response = request(url, settings, auth=auth, shown=ref.shown)
    except RemoteError as exc:
        if isinstance(exc, RemoteUnavailable):
            raise RemoteUnavailable(f"{ref.shown}: cannot reach {base} ({str(exc).split('(', 1)[-1]}") from None
        hint = _LOGIN_HINT if not auth else ""
        if exc.error_code == "GatedRepo":
            raise RemoteError(
                f"{ref.shown}: a gated repository: accept its conditions at {base}/{ref.repo} "
                f"and log in{hint}",
                exc.status,
                exc.error_code,
            ) from None
        if exc.error_code == "RevisionNotFound":
            raise RemoteError(f"{ref.shown}: the repository has no revision {revision!r}", exc.status) from None
        if exc.error_code == "RepoNotFound" or exc.status in (401, 404):
            raise RemoteError(
                f"{ref.shown}: no such repository, or a private one you cannot read"
                f" (HTTP {exc.status}){hint}",
                exc.status,
            ) from None
        raise RemoteError(status_message(exc.status or 0, ref.shown, hint), exc.status) from None
    try:
        info = json.loads(response.body.decode("utf-8"))
        commit = str(info.get("sha") or "")
        siblings = list(info.get("siblings") or [])
    except (ValueError, AttributeError, TypeError):
        raise RemoteError(f"{ref.shown}: the Hub's answer is not the model's description") from None
    if not _COMMIT.match(commit):
        raise RemoteError(f"{ref.shown}: the Hub did not say which commit {revision!r} is")
    files: dict[str, FileInfo | None] = {}
    for sibling in siblings:
        if not isinstance(sibling, dict) or not isinstance(sibling.get("rfilename"), str):
            continue
        lfs = sibling.get("lfs")
        size = lfs.get("size") if isinstance(lfs, dict) else sibling.get("size")
        if isinstance(size, int):
            files[sibling["rfilename"]] = (size, commit)
    return commit, files
