"""The workspace's links, found lazily: every file's scan cached by content, the pyproject
tables, the setting; classes resolved through imports."""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ckptlens.workspace.model import EMPTY_SCAN, SETTING, ClassDecl, FileScan, Link
from ckptlens.workspace.pyproject import links_from_tables, read_pyproject_links
from ckptlens.workspace.scan import might_link, scan_source

FILES_TTL = 30.0  # seconds a listing of the workspace's files is trusted
DEFAULT_EXCLUDES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        ".env",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "site-packages",
        "build",
        "dist",
        ".eggs",
    }
)


@dataclass
class _Cached:
    stamp: tuple[Any, ...]
    scan: FileScan


@dataclass
class WorkspaceIndex:
    """The links of a workspace, from every .py file (scanned lazily, cached by content) plus
    pyproject.toml and the setting. Not thread-safe: one owner calls it."""

    roots: list[str]
    find_module: Callable[[str, str, int], str | None]
    max_files: int = 5000
    # The engine's parse of (path, text), shared so that a file is parsed once; None: parse here.
    parse: Callable[[str, str], ast.Module | None] | None = None
    excludes: frozenset[str] = DEFAULT_EXCLUDES
    _scans: dict[str, _Cached] = field(default_factory=dict)
    _files: list[str] | None = None
    _files_at: float = 0.0
    _mentions: dict[str, tuple[tuple[int, int], bool]] = field(default_factory=dict)
    _resolved: dict[tuple[str, tuple[str, ...]], tuple[str, ClassDecl] | None] = field(
        default_factory=dict
    )
    _pyproject: dict[str, tuple[tuple[int, int], list[Link], list[str]]] = field(
        default_factory=dict
    )

    def invalidate(self, path: str | None = None) -> None:
        """Forget the file list (a file appeared or went) and class resolutions."""
        self._files = None
        self._resolved.clear()
        if path is not None:
            self._scans.pop(path, None)

    def root_for(self, path: str) -> str | None:
        best = None
        for root in self.roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                if best is None or len(root) > len(best):
                    best = root
        return best

    def python_files(self) -> list[str]:
        """The workspace's .py files; listed again after `invalidate` or FILES_TTL seconds
        (clients without file watchers never say that a file appeared)."""
        if self._files is not None and time.monotonic() - self._files_at > FILES_TTL:
            self._files = None
        if self._files is None:
            self._files_at = time.monotonic()
            files: list[str] = []
            for root in self.roots:
                for folder, dirs, names in os.walk(root):
                    dirs[:] = sorted(
                        d for d in dirs if d not in self.excludes and not d.startswith(".")
                    )
                    files.extend(
                        os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")
                    )
                    if len(files) >= self.max_files:
                        break
            self._files = files[: self.max_files]
        return self._files

    def scan(self, path: str, overlays: Mapping[str, str]) -> FileScan:
        text = overlays.get(path)
        if text is not None:
            stamp: tuple[Any, ...] = ("text", hash(text), len(text))
        else:
            try:
                st = os.stat(path)
            except OSError:
                self._scans.pop(path, None)
                return replace(EMPTY_SCAN, path=path)
            stamp = ("disk", st.st_mtime_ns, st.st_size)
        cached = self._scans.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.scan
        if text is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                return replace(EMPTY_SCAN, path=path)
        tree = None
        if self.parse is not None:
            tree = self.parse(path, text)
        scan = scan_source(path, text, tree)
        if not scan.ok and cached is not None and cached.scan.ok:
            scan = replace(cached.scan, stale=True)  # keep the last good scan while typing
        self._scans[path] = _Cached(stamp, scan)
        if len(self._scans) > 4 * self.max_files:
            self._scans.pop(next(iter(self._scans)))
        return scan

    def resolve_class(
        self, ref: tuple[str, ...], from_file: str, overlays: Mapping[str, str], depth: int = 0
    ) -> tuple[str, ClassDecl] | None:
        """The workspace file and declaration of a class named by `ref` in `from_file`."""
        key = (from_file, ref)
        if depth == 0 and key in self._resolved:
            return self._resolved[key]
        found = self._resolve_class(ref, from_file, overlays, depth)
        if depth == 0:
            self._resolved[key] = found
        return found

    def _resolve_class(
        self, ref: tuple[str, ...], from_file: str, overlays: Mapping[str, str], depth: int
    ) -> tuple[str, ClassDecl] | None:
        if depth > 4:
            return None
        scan = self.scan(from_file, overlays)
        head = ref[0]
        if len(ref) == 1 and head in scan.classes:
            return from_file, scan.classes[head]
        imported = scan.imports.get(head)
        if imported is None:
            return None
        if imported.name is not None and len(ref) == 1:
            module_file = self.find_module(imported.module, from_file, imported.level)
            target: tuple[str, ...] = (imported.name,)
            if module_file is None:  # `from pkg import module` then `module.Net`
                return None
        else:
            dotted = ".".join(
                [imported.module, *([imported.name] if imported.name else []), *ref[1:-1]]
            )
            module_file = self.find_module(dotted.strip("."), from_file, imported.level)
            target = (ref[-1],)
        if module_file is None or not self.in_workspace(module_file, overlays):
            return None
        return self.resolve_class(target, module_file, overlays, depth + 1)

    def in_workspace(self, path: str, overlays: Mapping[str, str]) -> bool:
        return path in overlays or self.root_for(path) is not None

    def pyproject_links(self) -> tuple[list[Link], list[str]]:
        links: list[Link] = []
        problems: list[str] = []
        for root in self.roots:
            path = os.path.join(root, "pyproject.toml")
            try:
                st = os.stat(path)
            except OSError:
                self._pyproject.pop(path, None)
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._pyproject.get(path)
            if cached is None or cached[0] != stamp:
                found, errors = read_pyproject_links(path)
                cached = (stamp, found, errors)
                self._pyproject[path] = cached
            links.extend(cached[1])
            problems.extend(cached[2])
        return links, problems

    def may_link(self, path: str) -> bool:
        """Whether a file on disk mentions a load call or a directive at all: most files do
        not, and are never parsed unless a link names a class in them."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._mentions.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                found = might_link(handle.read())
        except OSError:
            found = False
        self._mentions[path] = (stamp, found)
        return found

    def links(
        self,
        overlays: Mapping[str, str],
        setting_tables: Sequence[Any] = (),
        *,
        scan_files: bool = True,
    ) -> tuple[list[Link], list[str]]:
        """Every link of the workspace, with class files and declarations checked; problems
        (bad pyproject tables or settings) as one-line messages."""
        out: list[Link] = []
        self._resolved.clear()  # resolutions hold within one call: other files may change
        found, problems = self.pyproject_links()
        root = self.roots[0] if self.roots else os.getcwd()
        from_setting, setting_problems = (
            links_from_tables(
                list(setting_tables), root, kind=SETTING, origin="the ckptlens.links setting"
            )
            if setting_tables
            else ([], [])
        )
        problems.extend(setting_problems)
        for link in [*found, *from_setting]:
            decl = self.scan(link.class_file, overlays).classes.get(link.class_name)
            if decl is None:
                problems.append(f"{link.origin}: no class `{link.class_name}` in {link.class_file}")
                continue
            out.append(replace(link, class_range=decl.name_range))
        files = list(dict.fromkeys([*overlays, *(self.python_files() if scan_files else ())]))
        for path in files:
            if not path.endswith(".py") or (path not in overlays and not self.may_link(path)):
                continue
            scan = self.scan(path, overlays)
            out.extend(scan.directives)
            for site in scan.sites:
                resolved = self.resolve_class(site.class_ref, path, overlays)
                if resolved is None:
                    continue
                class_file, decl = resolved
                folder = os.path.dirname(path)
                workspace = self.root_for(path)
                out.append(
                    Link(
                        kind=site.kind,
                        class_file=class_file,
                        class_name=decl.name,
                        checkpoint=site.checkpoint,
                        search_dirs=tuple(
                            dict.fromkeys([*([workspace] if workspace else []), folder])
                        ),
                        site_file=path,
                        path_range=site.path_range,
                        literal_range=site.literal_range,
                        class_range=decl.name_range,
                        init=site.init,
                        init_positional=site.init_positional,
                        strict_false=site.strict_false,
                        map_location=site.map_location,
                        call_range=site.call_range,
                        state_arg_range=site.state_arg_range,
                        site_mapping=site.site_mapping,
                        state_entries=site.state_entries,
                    )
                )
        unique: dict[str, Link] = {}
        for link in out:
            unique.setdefault(link.key, link)
        return list(unique.values()), problems

    def class_decl(self, path: str, name: str, overlays: Mapping[str, str]) -> ClassDecl | None:
        return self.scan(path, overlays).classes.get(name)
