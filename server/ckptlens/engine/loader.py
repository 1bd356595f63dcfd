"""Source files: finding them the way Python's path finder would, parsing each once.

Read-only analysis parses with the stdlib `ast` (measured here: 7 ms for transformers'
`modeling_bart.py`, 1,300 lines, against 64 ms for a libcst parse and 250 ms with libcst
positions); libcst is kept for the edits of the fixes, where formatting must survive.
"""

from __future__ import annotations

import ast
import codecs
import errno
import io
import json
import os
import re
import sys
import time
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ckptlens.engine import reads
from ckptlens.engine.body_spans import scan_body_spans
from ckptlens.findings import SourceRange

if TYPE_CHECKING:
    from pathlib import Path


class SourceError(Exception):
    """A source file cannot be read or parsed. `str(err)` is one line for the user."""


@dataclass
class SourceFile:
    """A parsed source file: its text, lines and tree."""

    path: str
    text: str
    tree: ast.Module
    lines: list[str] = field(repr=False)

    def __post_init__(self) -> None:
        self.token = object()  # this parse's, unlike any other (copied along with its tree)

    def char_col(self, line: int, byte_col: int) -> int:
        """ast columns count UTF-8 bytes; ours count characters."""
        if line < 1 or line > len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def range_of(self, node: ast.AST) -> SourceRange:
        # kept on the node, for this file (by its token: the file holds the tree, a tree holding
        # the file would make a cycle): a statement run once per layer built is anchored again
        # and again
        known: tuple[object, SourceRange] | None = node.__dict__.get("_ckptlens_range")
        if known is None or known[0] is not self.token:
            known = node.__dict__["_ckptlens_range"] = (self.token, self._range_of(node))
        return known[1]

    def _range_of(self, node: ast.AST) -> SourceRange:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        if end_col is None:
            end_col = col
        return SourceRange(
            self.path, line, self.char_col(line, col), end_line, self.char_col(end_line, end_col)
        )

    def name_range(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> SourceRange:
        """The range of the name in `class Name` / `def name`."""
        line = node.lineno
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        keyword = "class" if isinstance(node, ast.ClassDef) else "def"
        start = text.find(f"{keyword} ")
        if start >= 0:
            start = text.find(node.name, start + len(keyword))
        if start < 0:
            return self.range_of(node)
        return SourceRange(self.path, line, start, line, start + len(node.name))


def decode_source(raw: bytes) -> str:
    """Source bytes decoded as Python decodes them (PEP 263): a UTF-8 BOM or a `coding:`
    declaration on the first two lines picks the codec, UTF-8 otherwise. A declaration
    naming no text codec falls back to UTF-8; undecodable bytes become U+FFFD."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        if not codecs.lookup(encoding)._is_text_encoding:
            encoding = "utf-8"
        return raw.decode(encoding, errors="replace")
    except (SyntaxError, LookupError, UnicodeError):
        return raw.decode("utf-8", errors="replace")


def parse_source(path: str, text: str) -> SourceFile:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise SourceError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{path}: cannot parse: {exc}") from None
    return SourceFile(path=path, text=text, tree=tree, lines=text.splitlines())


# -- function bodies parsed when first used ------------------------------------------------
#
# Most of a library file is function bodies an analysis never runs (240 KB of diffusers'
# attention processors to build one `Attention`). A file parsed once leaves, in the disk cache,
# where each outermost function's body lies (keyed by the text's hash, JSON); from then on it is
# parsed with those bodies blanked, and a body is parsed from the original lines when first
# read (`node.body`: the interpreter, `ast.walk`, anything). Positions are those of a full
# parse: blanked lines keep their count, the stub ends where the body ended.

_LAZY_MIN_CHARS = 3_000  # a smaller file parses in well under a millisecond
_LAZY_FORMAT = 1
_INSTALLED = re.compile(r"[\\/](?:site|dist)-packages[\\/]")
# characters `str.splitlines` breaks lines at and Python does not (or "\r", which it does)
_OTHER_NEWLINES = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class _LazyBody:
    """What a stubbed function needs to parse its body: the file's lines and path."""

    __slots__ = ("lines", "path")

    def __init__(self, lines: list[str], path: str) -> None:
        self.lines = lines
        self.path = path


def _parse_body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    lazy: _LazyBody = node.__dict__["_ckptlens_lazy"]
    first, last = node.lineno, node.end_lineno or node.lineno
    text = "\n".join(lazy.lines[first - 1 : last])
    if node.col_offset:  # a method: parsed inside `if 1:` on the line above, so columns hold
        text = "\n" * (first - 2) + "if 1:\n" + text
    else:
        text = "\n" * (first - 1) + text
    tree = ast.parse(text, filename=lazy.path)
    holder = tree.body[0]
    func: Any = holder.body[0] if isinstance(holder, ast.If) else holder
    return list(func.body)


def _body_property() -> property:
    def get(self: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
        body: list[ast.stmt] | None = self.__dict__.get("body")
        if body is None:
            body = self.__dict__["body"] = _parse_body(self)
        return body

    def put(self: ast.FunctionDef | ast.AsyncFunctionDef, value: list[ast.stmt]) -> None:
        self.__dict__["body"] = value

    return property(get, put)


class _LazyFunctionDef(ast.FunctionDef):
    body = _body_property()


class _LazyAsyncFunctionDef(ast.AsyncFunctionDef):
    body = _body_property()


# named as ast names them (messages and dispatch by class name see no difference); the module
# names below let pickle and copy find them again
_LazyFunctionDef.__name__ = _LazyFunctionDef.__qualname__ = "FunctionDef"
_LazyAsyncFunctionDef.__name__ = _LazyAsyncFunctionDef.__qualname__ = "AsyncFunctionDef"
FunctionDef = _LazyFunctionDef
AsyncFunctionDef = _LazyAsyncFunctionDef


def _outer_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions not inside another function (module level, in classes, in if/try blocks)."""
    out: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append(child)
            elif isinstance(child, ast.stmt):
                stack.append(child)
            elif isinstance(child, ast.excepthandler):
                stack.append(child)
    return out


def _body_spans(tree: ast.Module, lines: list[str]) -> list[list[int]]:
    """[first body line, last line, end column] of each outermost function whose body starts
    on a line of its own (a one-line `def f(): ...` keeps its body)."""
    spans = []
    for func in _outer_functions(tree):
        first = func.body[0].lineno
        if first <= func.lineno or func.end_lineno is None or func.end_col_offset is None:
            continue
        if func.decorator_list and any(d.lineno >= first for d in func.decorator_list):
            continue
        line = lines[first - 1] if first <= len(lines) else ""
        if line[: func.body[0].col_offset].strip():  # `):  x = 1` — the header ends on this line
            continue
        if func.end_lineno - first < 2:
            continue  # a short body: nothing to save
        spans.append([first, func.end_lineno, func.end_col_offset])
    return spans


def _lazy_cache(path: str) -> _DiskCache:
    return _DiskCache("ast-spans", f"{path}\0{sys.version_info[:2]}\0{_LAZY_FORMAT}", "")


def parse_lazily(path: str, text: str) -> SourceFile:
    """`parse_source`, with the bodies of the outermost functions parsed when first read
    (when an earlier parse of the same text left where they lie)."""
    if len(text) < _LAZY_MIN_CHARS or _OTHER_NEWLINES.search(text):
        return parse_source(path, text)  # (lines counted as Python counts them, "\n" only)
    disk = None
    spans = None
    if not os.environ.get("CKPTLENS_NO_CACHE"):  # (no disk cache: no digest to key it by)
        disk = _lazy_cache(path)
        disk.stamp = _sha1(text.encode("utf-8", "surrogatepass"))
        spans = disk.read()
    lines = text.splitlines()
    if not isinstance(spans, list):
        # an installed library's file (importable, so valid Python): the spans from a scan of
        # its text, a fraction of a full parse (the first call, or no disk cache at all)
        scanned = scan_body_spans(text, lines) if _INSTALLED.search(path) else None
        if scanned is not None:
            try:
                tree = _skeleton(path, lines, scanned)
            except (SyntaxError, ValueError, TypeError, IndexError, RecursionError):
                pass  # parsed in full below
            else:
                if disk is not None:
                    disk.write(scanned)
                return SourceFile(path=path, text=text, tree=tree, lines=lines)
        source = parse_source(path, text)
        if disk is not None:
            disk.write(_body_spans(source.tree, source.lines))
        return source
    try:
        tree = _skeleton(path, lines, spans)
    except (SyntaxError, ValueError, TypeError, IndexError, RecursionError):
        return parse_source(path, text)  # a damaged cache entry: the whole file, as always
    return SourceFile(path=path, text=text, tree=tree, lines=lines)


def _skeleton(path: str, lines: list[str], spans: list[list[int]]) -> ast.Module:
    stub = list(lines)
    ends: dict[tuple[int, int], tuple[int, int]] = {}
    stubbed: dict[int, int] = {}  # last line -> end column, for the functions stubbed
    for first, last, end_col in spans:
        line = lines[first - 1]
        indent = line[: len(line) - len(line.lstrip())]
        for i in range(first - 1, last):
            stub[i] = ""
        stub[last - 1] = indent + "pass"
        ends[(last, len(indent.encode()) + 4)] = (last, end_col)
        stubbed[last] = end_col
    tree = ast.parse("\n".join(stub), filename=path)
    lazy = _LazyBody(lines, path)
    for node in _statements_outside_functions(tree):
        end = (getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None))
        if end in ends:  # the stub and what ends with it end where the body ended
            node.end_lineno, node.end_col_offset = ends[end]  # type: ignore[attr-defined]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno in stubbed:
            body = node.body
            if len(body) == 1 and isinstance(body[0], ast.Pass) and body[0].lineno == node.end_lineno:
                node.__class__ = _LazyFunctionDef if isinstance(node, ast.FunctionDef) else _LazyAsyncFunctionDef
                del node.__dict__["body"]
                node.__dict__["_ckptlens_lazy"] = lazy
    return tree


def _statements_outside_functions(tree: ast.Module) -> list[ast.AST]:
    """Every statement (and except clause, match case) not inside a function, parents first."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                out.extend(children)
                stack.extend(children)
    return out


_RESOLVE_SECONDS = 1.0


def _sha1(data: bytes) -> str:
    import hashlib  # (only with a disk cache: its OpenSSL start-up is a few ms of a call)

    return hashlib.sha1(data).hexdigest()


def resolve_path(path: str) -> str:
    """`str(pathlib.Path(path).resolve())`, as pathlib does it (realpath, then a symlink loop is
    a RuntimeError), without importing pathlib (with urllib and ipaddress: ~8 ms of a call)."""
    try:
        resolved = os.path.realpath(path)
    except OSError as exc:
        _symlink_loop(exc)
        raise
    try:
        os.stat(resolved)
    except OSError as exc:
        _symlink_loop(exc)
    return resolved


def _symlink_loop(exc: OSError) -> None:
    if exc.errno == errno.ELOOP:
        raise RuntimeError(f"Symlink loop from {exc.filename!r}")


class Loader:
    """Finds and parses modules. One instance per analysis session; caches by (path, mtime, size).

    `overlays` hold unsaved editor buffers (path -> text) that win over the disk.
    """

    def __init__(
        self,
        extra_paths: Sequence[str] = (),
        *,
        use_sys_path: bool = True,
        overlays: dict[str, str] | None = None,
    ) -> None:
        self.extra_paths = [resolve_path(str(p)) for p in extra_paths]
        self.sys_path = [p for p in sys.path if p and os.path.isdir(p)] if use_sys_path else []
        self.overlays = overlays if overlays is not None else {}
        self._cache: dict[str, tuple[tuple[int, int], SourceFile]] = {}
        self._lazy: dict[str, dict[str, str]] = {}
        self._resolved: dict[str, tuple[float, str]] = {}

    def load(self, path: str | Path) -> SourceFile:
        key = self._resolve(str(path))
        if key in self.overlays:
            text = self.overlays[key]
            stamp = (-1, hash(text))
        else:
            try:
                st = os.stat(key)
            except FileNotFoundError:
                raise SourceError(f"{key}: no such file") from None
            except OSError as exc:
                raise SourceError(f"{key}: cannot read: {exc.strerror or exc}") from None
            if not os.path.isfile(key):
                raise SourceError(f"{key}: not a file")
            stamp = (st.st_mtime_ns, st.st_size)
            reads.note(key, (st.st_size, st.st_mtime_ns))
        cached = self._cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if key not in self.overlays:
            try:
                with open(key, "rb") as handle:
                    text = decode_source(handle.read())
            except OSError as exc:
                raise SourceError(f"{key}: cannot read: {exc.strerror or exc}") from None
        source = parse_source(key, text) if key in self.overlays else parse_lazily(key, text)
        self._cache[key] = (stamp, source)
        return source

    def _resolve(self, path: str) -> str:
        """`Path(path).resolve()`, remembered for a second: an analysis imports the same
        modules hundreds of times, and each resolve is a `lstat` per path component."""
        now = time.monotonic()
        known = self._resolved.get(path)
        if known is not None and now - known[0] < _RESOLVE_SECONDS:
            return known[1]
        key = resolve_path(path)
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[path] = (now, key)
        return key

    def lazy_exports(self, package_dir: str) -> dict[str, str]:
        """name -> file for the `__all__` lists of a lazily-importing package's submodules (two
        levels deep, as transformers' `define_import_structure` finds them). Only the tail of
        each file is read, where `__all__` sits."""
        for part in _stamp_paths(package_dir):
            reads.note(part)
        cached = self._lazy.get(package_dir)
        if cached is not None:
            return cached
        disk = _DiskCache("lazy-exports", package_dir, _package_stamp(package_dir))
        stored = disk.read()
        if isinstance(stored, dict):
            self._lazy[package_dir] = stored
            return stored
        index: dict[str, str] = {}
        for folder, _depth in _walk_packages(package_dir, 2):
            for entry in sorted(os.listdir(folder)):
                if not entry.endswith(".py") or entry.startswith(_NOT_EXPORTING) or entry == "__init__.py":
                    continue
                path = os.path.join(folder, entry)
                reads.note(path)
                for name in _all_names(path):
                    index.setdefault(name, path)
        self._lazy[package_dir] = index
        disk.write(index)
        return index

    def find_definition(self, package_dir: str, name: str) -> str | None:
        """The file directly in `package_dir` that defines class or function `name` at top level
        (lazy packages listing their exports in an `_import_structure` dict)."""
        pattern = re.compile(rf"^(?:class|def)\s+{re.escape(name)}\b", re.M)
        reads.note(package_dir)
        try:
            entries = sorted(os.listdir(package_dir))
        except OSError:
            return None
        for entry in entries:
            if not entry.endswith(".py") or entry == "__init__.py":
                continue
            path = os.path.join(package_dir, entry)
            reads.note(path)
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    if pattern.search(handle.read()):
                        return path
            except OSError:
                continue
        return None

    def roots_for(self, from_file: str) -> list[str]:
        """Where `import x` in `from_file` looks: its folder, its package root, then the
        workspace and the interpreter's path."""
        folder = os.path.dirname(from_file)
        roots = [folder]
        top = folder
        while os.path.isfile(os.path.join(top, "__init__.py")):
            top = os.path.dirname(top)
        if top != folder:
            roots.append(top)
        return _unique([*roots, *self.extra_paths, *self.sys_path])

    def find_module(self, dotted: str, from_file: str, level: int = 0) -> str | None:
        """The file of module `dotted` as imported from `from_file` (`level` dots), or None."""
        if level:
            base = os.path.dirname(from_file)
            for _ in range(level - 1):
                base = os.path.dirname(base)
            return _module_file(base, dotted.split(".") if dotted else [])
        parts = dotted.split(".")
        roots = self.roots_for(from_file)
        own = _own_namespace_root(from_file, parts[0])
        if own is not None and own not in roots:
            roots.insert(2, own)
        for root in roots:
            found = _module_file(root, parts)
            if found is not None:
                return found
        return None


MAX_NAMESPACE_DEPTH = 8  # how far above a file its own namespace package is looked for


def _own_namespace_root(from_file: str, first: str) -> str | None:
    """`import ldm.modules.util` inside `repo/ldm/modules/x.py` where `ldm/` (and maybe
    `modules/`) has no `__init__.py`: a namespace package the file itself belongs to, imported as
    Python does with the repository's root on the path (CompVis' stable-diffusion). The folder
    above the nearest ancestor named `first` that is a namespace package, or None."""
    folder = os.path.dirname(os.path.abspath(from_file))
    for _ in range(MAX_NAMESPACE_DEPTH):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        if os.path.basename(folder) == first and not os.path.isfile(os.path.join(folder, "__init__.py")):
            return parent
        folder = parent
    return None


_NOT_EXPORTING = (
    "tokenization", "image_processing", "processing", "feature_extraction", "video_processing",
    "convert_", "test_", "_",
)
_ALL_RE = re.compile(r"^__all__\s*=\s*[\[(](.*?)[\])]", re.M | re.S)


def _stamp_paths(package_dir: str) -> tuple[str, str, str]:
    return (package_dir, os.path.join(package_dir, "__init__.py"), os.path.join(package_dir, "models"))


def _package_stamp(package_dir: str) -> str:
    """What invalidates a cached index of an installed package: its folder and `__init__.py`
    (a reinstall replaces both)."""
    parts = []
    for path in _stamp_paths(package_dir):
        try:
            st = os.stat(path)
        except OSError:
            continue
        parts.append(f"{st.st_mtime_ns}:{st.st_size}")
    return "|".join(parts)


class _DiskCache:
    """A small JSON cache under ~/.cache/ckptlens (or $CKPTLENS_CACHE_DIR) for what the CLI would
    otherwise recompute on every call. Any failure just means no cache."""

    def __init__(self, kind: str, key: str, stamp: str) -> None:
        root = os.environ.get("CKPTLENS_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ckptlens"
        )
        self.root, self.kind, self.key = root, kind, key
        self.stamp = stamp

    @property
    def path(self) -> str:
        digest = _sha1(f"{self.kind}\0{self.key}".encode())[:20]
        return os.path.join(self.root, f"{self.kind}-{digest}.json")

    def read(self) -> object:
        if os.environ.get("CKPTLENS_NO_CACHE"):
            return None
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("stamp") != self.stamp:
            return None
        return data.get("value")

    def write(self, value: object) -> None:
        if os.environ.get("CKPTLENS_NO_CACHE"):
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"stamp": self.stamp, "value": value}, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass


def _walk_packages(root: str, depth: int) -> list[tuple[str, int]]:
    out = [(root, 0)]
    frontier = [root]
    for level in range(1, depth + 1):
        nxt = []
        for folder in frontier:
            try:
                entries = sorted(os.listdir(folder))
            except OSError:
                continue
            for entry in entries:
                sub = os.path.join(folder, entry)
                if os.path.isfile(os.path.join(sub, "__init__.py")):
                    nxt.append(sub)
                    out.append((sub, level))
        frontier = nxt
    return out


def _all_names(path: str) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    match = _ALL_RE.search(tail)
    return re.findall(r"[\"'](\w+)[\"']", match.group(1)) if match else []


def _module_file(root: str, parts: list[str]) -> str | None:
    path = os.path.join(root, *parts) if parts else root
    package_init = os.path.join(path, "__init__.py")
    if os.path.isfile(package_init):
        return package_init
    if parts and os.path.isfile(path + ".py"):
        return path + ".py"
    return None


def _unique(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
