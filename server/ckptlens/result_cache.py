"""The CLI's result cache: a `keys` or `check SOURCE --class NAME` whose inputs did not change
answers from disk, without loading the engine.

An entry is keyed by everything the answer depends on besides files: the command and its
arguments, the ckptlens version and a stamp of its own source files, the interpreter and its
import path, the working directory, colour, and the environment variables ckptlens reads. It
stores the answer (the exact stdout and exit code) with the stamps (size, mtime) of every file
the analysis read — source files of the project and of the libraries it imports, the folders
holding them and the import roots (a module added there may shadow one read), the `--config`
file, the checkpoint (a file and the config.json beside it, or a folder's entries; a remote
checkpoint: what its reference resolved to, while that is fresh, `CKPTLENS_REMOTE_TTL`). A hit
costs one stat per file. Entries are JSON (never pickle: the folder may be shared), written
atomically; one that cannot be read or parsed is ignored (a line on stderr with
`CKPTLENS_DEBUG=1`). The folder is `$CKPTLENS_CACHE_DIR` (default `~/.cache/ckptlens`, under
`$XDG_CACHE_HOME` when set) and holds at most `CKPTLENS_CACHE_MAX_MB` megabytes of results and
parse indexes (default 200; the least recently used go first); `CKPTLENS_NO_CACHE=1` or `--no-cache` turns
it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, TextIO

FORMAT = 1
_ENV_PREFIXES = ("CKPTLENS_", "HF_", "HUGGINGFACE_")
_ENV_NAMES = ("NO_COLOR", "XDG_CACHE_HOME", "PYTHONPATH", "AWS_ENDPOINT_URL", "AWS_PROFILE")
# not part of an answer: the cache's own settings, and how long a remote resolution is trusted
# (checked against the entry's stamp at each lookup, `fresh_stamp`)
_ENV_IGNORED = ("CKPTLENS_CACHE_DIR", "CKPTLENS_NO_CACHE", "CKPTLENS_CACHE_MAX_MB", "CKPTLENS_DEBUG", "CKPTLENS_REMOTE_TTL")
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


def cache_root() -> str:
    """`$CKPTLENS_CACHE_DIR`, else `ckptlens` under the user's cache folder (shared with the
    loader's small indexes)."""
    return os.environ.get("CKPTLENS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ckptlens"
    )


def enabled() -> bool:
    return os.environ.get("CKPTLENS_NO_CACHE", "").strip().lower() in ("", "0", "false", "no", "off")


def _max_bytes() -> int:
    try:
        return max(0, int(float(os.environ.get("CKPTLENS_CACHE_MAX_MB", "200")) * (1 << 20)))
    except ValueError:
        return 200 << 20


def _debug(message: str) -> None:
    if os.environ.get("CKPTLENS_DEBUG"):
        sys.stderr.write(f"ckptlens: debug: {' '.join(message.split())}\n")


def _stamp(path: str) -> list[int] | None:
    """[size, mtime_ns] of a file, [-1, mtime_ns] of a folder, None when absent (as
    `engine.reads.stamp_of`, which the stored stamps come from)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return [-1, st.st_mtime_ns]
    return [st.st_size, st.st_mtime_ns]


def _content_stamp(path: str) -> list[Any] | None:
    """[size, SHA-256] of a small file (`--config`): its content, not its mtime, so a config
    written just before the call is as good a key as an old one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read((4 << 20) + 1)  # the --config cap, and one byte more
    except OSError:
        return None
    return [len(data), hashlib.sha256(data).hexdigest()]


def _own_stamp() -> str:
    """ckptlens's own source files, stamped: a changed engine never answers from an old entry."""
    from ckptlens import __version__

    package = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256(f"{__version__}\0{FORMAT}".encode())
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(f"{path}\0{_stamp(path)}\0".encode())
    return digest.hexdigest()


def _environment() -> dict[str, str]:
    out = {}
    for name, value in os.environ.items():
        if name in _ENV_IGNORED or any(word in name for word in _SECRET_WORDS):
            continue  # credentials are never part of a key, even hashed
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            out[name] = value
    return dict(sorted(out.items()))


def _is_remote(text: str) -> bool:
    if "://" not in text:
        return False  # a local path: the checkpoint package is not even imported
    from ckptlens.checkpoint.remote import is_remote

    return is_remote(text)


def checkpoint_stamp(path: str) -> Any:
    """What a checkpoint's answer depends on, without reading it: a file's stamp with the
    config.json beside it (a `*.index.json`: every file of its folder, its shards among them);
    a folder's entries (shallow); a remote reference: what it resolved to while fresh."""
    if _is_remote(path):
        from ckptlens.checkpoint.remote.stamps import fresh_stamp

        return ["remote", fresh_stamp(path)]
    stamp = _stamp(path)
    if stamp is None:
        return None
    folder = path if stamp[0] == -1 else os.path.dirname(path)
    if stamp[0] != -1 and not path.endswith(".index.json"):
        return [stamp, _stamp(os.path.join(folder, "config.json"))]
    try:
        with os.scandir(folder) as listing:
            return [stamp, sorted([e.name, _stamp(e.path)] for e in listing)]
    except OSError:
        return None


class Hit(NamedTuple):
    stdout: str
    exit: int


class _Tee:
    """stdout, with a copy of what is written."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.out.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.out, name)


class ResultCache:
    """One CLI call's entry: `lookup`, or `run` the command and keep its answer."""

    def __init__(self, key_material: dict[str, Any], source: str, config: str | None, checkpoint: str | None) -> None:
        self.source = source
        self.config = config
        self.checkpoint = checkpoint
        material = {
            "format": FORMAT,
            "ckptlens": _own_stamp(),
            "python": [sys.executable, sys.version, [p for p in sys.path if p]],
            "cwd": os.getcwd(),
            "env": _environment(),
            **key_material,
        }
        self.key = hashlib.sha256(json.dumps(material, sort_keys=True, default=repr).encode()).hexdigest()
        self.path = os.path.join(cache_root(), "results", self.key[:2], f"{self.key}.json")

    # -- reading -------------------------------------------------------------------------

    def lookup(self) -> Hit | None:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _debug(f"result cache entry {self.path} unreadable ({exc.strerror or exc}); ignored")
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
            if data["format"] != FORMAT or data["key"] != self.key:
                raise ValueError("written for another key")
            deps = data["deps"]
            stdout, code = data["stdout"], data["exit"]
            if not isinstance(deps, dict) or not isinstance(stdout, str) or code not in (0, 1):
                raise ValueError("unexpected contents")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            _debug(f"result cache entry {self.path} is corrupt ({exc}); ignored")
            return None
        for path, stamp in deps.items():
            if _stamp(path) != stamp:
                _debug(f"result cache: {path} changed")
                return None
        if self.config is not None and _content_stamp(self.config) != data.get("config"):
            _debug(f"result cache: {self.config} changed")
            return None
        if self.checkpoint is not None and checkpoint_stamp(self.checkpoint) != data.get("checkpoint"):
            _debug(f"result cache: {self.checkpoint} changed")
            return None
        try:
            os.utime(self.path)  # recently used: pruned last
        except OSError:
            pass
        return Hit(stdout, code)

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _recording(self) -> Iterator[tuple[dict[str, Any], _Tee]]:
        from ckptlens.api import recording_reads

        tee = _Tee(sys.stdout)
        sys.stdout = tee
        try:
            with recording_reads() as reads:
                yield reads, tee
        finally:
            sys.stdout = tee.out

    def run(self, command: Callable[[], int]) -> int:
        """Run the command, keeping its answer when it is one (exit 0 or 1)."""
        import time

        started = time.time_ns()
        # what the answer is computed from, stamped before it is read
        config = _content_stamp(self.config) if self.config is not None else None
        checkpoint = checkpoint_stamp(self.checkpoint) if self.checkpoint is not None and not _is_remote(self.checkpoint) else None
        roots = {p: _stamp(p) for p in [os.path.dirname(self.source), *sys.path] if p and os.path.isdir(p)}
        with self._recording() as (reads, tee):
            code = command()
        if code not in (0, 1):
            return code
        if self.checkpoint is not None and _is_remote(self.checkpoint):
            checkpoint = checkpoint_stamp(self.checkpoint)  # the resolution this run used
            resolved = checkpoint[1] if isinstance(checkpoint, list) else None
            if resolved is None or (isinstance(resolved, list) and resolved[:1] == ["unknown"]):
                return code  # no resolution kept, or one already stale (CKPTLENS_REMOTE_TTL=0)
        deps = {**roots, **reads}
        recent = [p for p, stamp in [*deps.items(), (self.config, config), (self.checkpoint, checkpoint)] if _racy([stamp], started)]
        if recent:
            _debug(f"result cache: {recent[0]} was modified within the last seconds; not kept")
            return code
        self._store(
            {
                "format": FORMAT,
                "key": self.key,
                "deps": deps,
                "config": config,
                "checkpoint": checkpoint,
                "stdout": "".join(tee.parts),
                "exit": code,
            }
        )
        return code

    def _store(self, data: dict[str, Any]) -> None:
        import tempfile

        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, ensure_ascii=False)
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except (OSError, ValueError, TypeError) as exc:
            _debug(f"result cache entry {self.path} not written ({exc})")
            return
        prune(cache_root(), _max_bytes())


_RACY_NS = 2_000_000_000


def _racy(stamps: list[Any], started: int) -> bool:
    """Whether a stamp was taken within 2 s of a modification: a file changed again within the
    file system's timestamp granularity could keep its stamp, so such an answer is not kept
    (as git treats "racily clean" entries)."""
    stack = list(stamps)
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if len(item) == 2 and all(isinstance(x, int) for x in item):
                if item[1] >= started - _RACY_NS:
                    return True
            else:
                stack.extend(item)
    return False


def prune(root: str, limit: int) -> None:
    """Keep the results (`root/results/`) and the parse indexes (`root/ast-spans-*.json`, see
    `engine.loader.parse_lazily`) under `limit` bytes together: the least recently used go
    first, down to 3/4 of it."""
    entries = []
    total = 0
    folders = [os.path.join(root, "results")]
    try:
        folders += [e.path for e in os.scandir(folders[0]) if e.is_dir()]
    except OSError:
        pass
    for folder in [root, *folders[1:]]:
        try:
            listing = list(os.scandir(folder))
        except OSError:
            continue
        for entry in listing:
            if folder == root and not entry.name.startswith("ast-spans-"):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, entry.path))
            total += st.st_size
    if total <= limit:
        return
    for _mtime, size, path in sorted(entries):
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        if total <= limit * 3 // 4:
            break


def for_command(
    command: str,
    *,
    source: str,
    class_name: str,
    options: dict[str, Any],
    config: str | None,
    checkpoint: str | None,
    color: bool,
) -> ResultCache | None:
    """The entry of this call, or None when the cache is off or the call is not cacheable
    (a source or checkpoint that is not a plain local path or a remote reference)."""
    if not enabled():
        return None
    source = os.path.abspath(source)
    if not os.path.isfile(source):
        return None  # the error message comes from the engine, uncached
    if config is not None:
        config = os.path.abspath(config)
        real = os.path.realpath(config)
        if not os.path.isfile(real) or real.startswith(("/dev/", "/proc/")):
            return None  # a FIFO, a device, /dev/stdin: the engine refuses it, unread by us
    if checkpoint is not None and not _is_remote(checkpoint):
        if not os.path.exists(checkpoint):
            return None  # a hub id read from the local Hugging Face cache, or an error
        checkpoint = os.path.abspath(checkpoint)
    material = {
        "command": command,
        "source": source,
        "class": class_name,
        "options": options,
        "config": config,
        "checkpoint": checkpoint,
        "color": color,
    }
    return ResultCache(material, source, config, checkpoint)
