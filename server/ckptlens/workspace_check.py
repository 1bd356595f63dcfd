"""`ckptlens check` with no SOURCE: every class the workspace links, found and checked exactly
as the language server finds and checks them (`lsp.analysis.Session`, headless), with the
load-site rules (`workspace.rules`) and the safe fixes (rename, literal dim).

Independent links are checked in parallel processes (one `Session` per process, grouped by
class file so each class is analysed once); a whole-run result is kept in
`<root>/.ckptlens_cache/workspace.json`, keyed by the stamps (size, mtime) of every .py file and
pyproject.toml of the workspace, of every checkpoint read, and by the options: a run where
nothing changed answers from it. The cache is JSON (never pickle: a checked-out repository
must not be able to run code through it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ckptlens.findings import SOURCE_ERROR, STATE_DICT_ENTRY, Finding, Fix, Severity, SourceRange

CACHE_DIR = ".ckptlens_cache"
CACHE_FORMAT = 2
GENERATE_MAPPING_PREFIX = "Generate key mapping"


class WorkspaceConfigError(Exception):
    """`[tool.ckptlens]` is malformed (exit 2)."""


@dataclass(frozen=True)
class WorkspaceOptions:
    unverified_severity: str = "warning"
    exclude: tuple[str, ...] = ()  # paths (relative to the root) whose files are not checked
    strict_false_ratio: float = 0.5
    hf_cache: str | None = None


@dataclass(frozen=True)
class WorkspaceFinding:
    finding: Finding
    link: str  # the checkpoint it was compared with (as resolved, else as written)

    def to_json(self) -> dict[str, Any]:
        data = self.finding.to_json()
        data["link"] = self.link
        return data


@dataclass(frozen=True)
class WorkspaceReport:
    root: str
    findings: tuple[WorkspaceFinding, ...]
    links: int
    fixes: tuple[Fix, ...] = ()
    problems: tuple[str, ...] = ()  # bad pyproject tables (one line each)
    from_cache: bool = field(default=False, compare=False)

    @property
    def fails(self) -> bool:
        return any(f.finding.fails for f in self.findings)


# -- options ---------------------------------------------------------------------------------


def find_root(paths: Sequence[str]) -> str:
    """The folder holding pyproject.toml above the first PATH (or the current folder), else
    that folder itself."""
    start = os.path.abspath(paths[0]) if paths else os.getcwd()
    if not os.path.isdir(start):
        start = os.path.dirname(start)
    folder = start
    while True:
        if os.path.isfile(os.path.join(folder, "pyproject.toml")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def load_options(root: str) -> WorkspaceOptions:
    """`[tool.ckptlens]` of `root`/pyproject.toml: `unverified-severity`, `exclude`."""
    path = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(path):
        return WorkspaceOptions()
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WorkspaceConfigError(f"{path}: {exc}") from exc
    table = data.get("tool", {}).get("ckptlens", {})
    if not isinstance(table, dict):
        raise WorkspaceConfigError(f"{path}: [tool.ckptlens] must be a table")
    severity = table.get("unverified-severity", "warning")
    if severity not in {s.value for s in Severity}:
        raise WorkspaceConfigError(
            f"{path}: unverified-severity must be error, warning, information or hint, got {severity!r}"
        )
    exclude = table.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
        raise WorkspaceConfigError(f"{path}: exclude must be a list of paths")
    return WorkspaceOptions(unverified_severity=severity, exclude=tuple(exclude))


# -- checking --------------------------------------------------------------------------------


def _under(path: str | None, folders: Sequence[str]) -> bool:
    if path is None:
        return False
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _read_index(path: str) -> Any:
    """A checkpoint's index, or the one-line reason it cannot be used (as the server reads)."""
    from ckptlens.checkpoint import CheckpointError, read_checkpoint

    try:
        return read_checkpoint(path)
    except CheckpointError as exc:
        return " ".join(str(exc).split()) or f"{path}: cannot read the checkpoint"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - a reader bug is one finding, not a crash
        return f"{path}: cannot read the checkpoint (internal error: {type(exc).__name__}: {exc})"


def _new_session(root: str, options: WorkspaceOptions) -> Any:
    from ckptlens.lsp.analysis import Session, SessionOptions

    return Session(
        [root],
        SessionOptions(
            hf_cache=options.hf_cache,
            strict_false_ratio=options.strict_false_ratio,
            unverified_severity=options.unverified_severity,
        ),
    )


_WORKER_SESSION: Any = None  # one per worker process (each run starts its own processes)


def _worker_start(root: str, options: WorkspaceOptions) -> None:
    global _WORKER_SESSION
    _WORKER_SESSION = _new_session(root, options)


def _check_in_worker(
    options: WorkspaceOptions, group: Sequence[Any], with_fixes: bool
) -> tuple[list[WorkspaceFinding], list[Fix]]:
    return _check_group(_WORKER_SESSION, options, group, with_fixes)


def _check_group(
    session: Any, options: WorkspaceOptions, group: Sequence[Any], with_fixes: bool
) -> tuple[list[WorkspaceFinding], list[Fix]]:
    """Check some links (one class file's) with `session`: their findings and safe fixes."""
    from ckptlens.api import SourceUnreadable
    from ckptlens.lsp.actions import entry_action
    from ckptlens.lsp.analysis import checkpoint_stamp
    from ckptlens.workspace.resolution import resolve_checkpoint
    from ckptlens.workspace.rules import link_findings

    findings: list[WorkspaceFinding] = []
    fixes: list[Fix] = []
    indexes: dict[str, Any] = {}
    stamps: dict[str, Any] = {}
    texts: dict[str, str | None] = {}

    def source_of(path: str) -> str | None:
        if path not in texts:
            try:
                with open(path, encoding="utf-8") as handle:
                    texts[path] = handle.read()
            except (OSError, UnicodeDecodeError):
                texts[path] = None
        return texts[path]

    for link in group:
        resolution = resolve_checkpoint(link, options.hf_cache)
        if resolution.path is not None and resolution.path not in indexes:
            stamps[resolution.path] = checkpoint_stamp(resolution.path)
            indexes[resolution.path] = _read_index(resolution.path)
        outcome = session.check_link(link, resolution, indexes, stamps)
        if outcome.error_code == SOURCE_ERROR:
            anchor = link.class_range or SourceRange(link.class_file, 1, 0, 1, 0)
            finding = SourceUnreadable(outcome.error or "").at(anchor)
            findings.append(WorkspaceFinding(finding, resolution.path or link.checkpoint))
            continue
        for item in link_findings(None, outcome, options.strict_false_ratio, options.hf_cache):
            label = item.checkpoint or resolution.hub_id or link.checkpoint
            findings.append(WorkspaceFinding(item.finding, label))
            if with_fixes and item.finding.code == STATE_DICT_ENTRY:
                text = source_of(item.finding.range.file)
                entry = entry_action(item.finding, text) if text is not None else None
                if entry is not None:
                    fixes.append(entry.fix)
        if with_fixes and outcome.result is not None:
            for finding in outcome.result.findings:
                source = source_of(finding.range.file)
                if source is None:
                    continue
                action = session.finding_action(outcome, finding, source)
                if action is not None:
                    fixes.append(action.fix)
    return findings, fixes


def _groups(links: Sequence[Any]) -> list[list[Any]]:
    by_class: dict[str, list[Any]] = {}
    for link in links:
        by_class.setdefault(link.class_file, []).append(link)
    return list(by_class.values())


def check_workspace(
    paths: Sequence[str] = (),
    *,
    options: WorkspaceOptions | None = None,
    jobs: int = 2,
    cache: bool = True,
    with_fixes: bool = False,
) -> WorkspaceReport:
    root = find_root(paths)
    options = options if options is not None else load_options(root)
    selected = [os.path.realpath(p) for p in paths]
    for path in selected:
        if not os.path.exists(path):
            raise WorkspaceConfigError(f"{path}: no such file or folder")
    excluded = [os.path.realpath(os.path.join(root, e)) for e in options.exclude]
    key = _run_key(root, options, selected, with_fixes) if cache else None
    if key is not None:
        cached = _cache_load(root, key)
        if cached is not None:
            return cached

    session = _new_session(root, options)
    links = session.links()
    chosen = []
    for link in links:
        home = link.site_file or link.class_file
        if _under(home, excluded) or (selected and not _under(home, selected)):
            continue
        chosen.append(link)
    groups = _groups(chosen)
    results: list[tuple[list[WorkspaceFinding], list[Fix]]]
    if jobs > 1 and len(groups) > 1:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_start, initargs=(root, options)) as pool:
            futures = [pool.submit(_check_in_worker, options, g, with_fixes) for g in groups]
            results = [f.result() for f in futures]
    else:
        results = [_check_group(session, options, g, with_fixes) for g in groups]

    seen: set[tuple[Any, ...]] = set()
    findings: list[WorkspaceFinding] = []
    fixes: list[Fix] = []
    fix_keys: set[tuple[Any, ...]] = set()
    for group_findings, group_fixes in results:
        for item in group_findings:
            f = item.finding
            if _under(f.range.file, excluded):
                continue
            mark = (f.range, f.code, f.message)  # the editor shows a diagnostic once
            if mark not in seen:
                seen.add(mark)
                findings.append(item)
        for fix in group_fixes:
            if (fix.title, fix.edits) not in fix_keys:
                fix_keys.add((fix.title, fix.edits))
                fixes.append(fix)
    findings.sort(key=lambda w: (w.finding.range.file, w.finding.range.start_line, w.finding.range.start_col, w.finding.code))
    report = WorkspaceReport(root, tuple(findings), len(chosen), tuple(fixes), tuple(session.problems))
    if key is not None:
        _cache_store(root, key, report, sorted(_watched(chosen, options)))
    return report


def _watched(links: Sequence[Any], options: WorkspaceOptions) -> set[str]:
    """Beyond the workspace's own files, what a run's answer depends on: every place a
    checkpoint was looked for (one that appears changes the answer), the checkpoints read, the
    class files of links pointing outside the workspace."""
    from ckptlens.workspace.resolution import resolve_checkpoint

    out: set[str] = set()
    for link in links:
        resolution = resolve_checkpoint(link, options.hf_cache)
        out.update(resolution.tried)
        if resolution.path:
            out.add(resolution.path)
        out.add(link.class_file)
    return out


# -- fixes -----------------------------------------------------------------------------------


def fixed_texts(fixes: Sequence[Fix]) -> dict[str, tuple[str, str]]:
    """path -> (old text, new text) after the fixes; a fix overlapping one already taken in the
    same file waits for the next run."""
    from ckptlens.fixes.edits import apply_edits

    by_file: dict[str, list[tuple[SourceRange, str]]] = {}
    for fix in fixes:
        files = {where.file for where, _ in fix.edits}
        if len(files) != 1:
            continue
        path = files.pop()
        taken = by_file.setdefault(path, [])
        if any(_overlap(a, b) for a, _ in fix.edits for b, _ in taken):
            continue
        taken.extend(fix.edits)
    out: dict[str, tuple[str, str]] = {}
    for path, edits in sorted(by_file.items()):
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
        new = apply_edits(old, edits)
        if new != old:
            out[path] = (old, new)
    return out


def _overlap(a: SourceRange, b: SourceRange) -> bool:
    return (a.start_line, a.start_col) < (b.end_line, b.end_col) and (b.start_line, b.start_col) < (
        a.end_line,
        a.end_col,
    ) or (a.start_line, a.start_col, a.end_line, a.end_col) == (b.start_line, b.start_col, b.end_line, b.end_col)


def unified_diff(changes: dict[str, tuple[str, str]], cwd: str) -> str:
    import difflib

    parts: list[str] = []
    for path, (old, new) in sorted(changes.items()):
        name = os.path.relpath(path, cwd) if path.startswith(cwd.rstrip(os.sep) + os.sep) else path
        parts.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
        )
    return "".join(parts)


# -- the run cache -----------------------------------------------------------------------------


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _run_key(root: str, options: WorkspaceOptions, selected: Sequence[str], with_fixes: bool) -> str:
    """Everything a run's answer depends on inside the workspace, as stamps."""
    import hashlib

    from ckptlens import __version__
    from ckptlens.workspace.index import DEFAULT_EXCLUDES

    digest = hashlib.sha256()
    from ckptlens.workspace.resolution import default_hf_cache

    state = [__version__, CACHE_FORMAT, options.__dict__, list(selected), with_fixes, default_hf_cache()]
    digest.update(json.dumps(state).encode())
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in DEFAULT_EXCLUDES and not d.startswith("."))
        for name in sorted(names):
            if name.endswith((".py", ".toml", ".json")):
                path = os.path.join(folder, name)
                digest.update(json.dumps([path, _stamp(path)]).encode())
    return digest.hexdigest()


def _cache_store(root: str, key: str, report: WorkspaceReport, checkpoints: Sequence[str]) -> None:
    data = {
        "key": key,
        "checkpoints": {p: _stamp_any(p) for p in checkpoints},
        "links": report.links,
        "problems": list(report.problems),
        "findings": [{"finding": w.finding.to_record(), "link": w.link} for w in report.findings],
        "fixes": [
            {"title": x.title, "kind": x.kind, "edits": [[[r.file, r.start_line, r.start_col, r.end_line, r.end_col], t] for r, t in x.edits]}
            for x in report.fixes
        ],
    }
    folder = os.path.join(root, CACHE_DIR)
    try:
        os.makedirs(folder, exist_ok=True)
        ignore = os.path.join(folder, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as handle:
                handle.write("*\n")
        tmp = os.path.join(folder, f"workspace.json.{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, os.path.join(folder, "workspace.json"))
    except OSError:
        pass  # a read-only checkout: no cache, same answers


def _stamp_any(path: str) -> Any:
    """What a checkpoint's answer depends on, as JSON values (the cache is JSON): the CLI result
    cache's stamp (`result_cache.checkpoint_stamp`: a file with the config.json beside it, a
    `*.index.json` with its shards, a folder's entries; a remote reference: what it resolved to,
    while that is fresh, `CKPTLENS_REMOTE_TTL`). Never loads the engine."""
    from ckptlens.result_cache import checkpoint_stamp

    return checkpoint_stamp(path)


def _cache_load(root: str, key: str) -> WorkspaceReport | None:
    try:
        with open(os.path.join(root, CACHE_DIR, "workspace.json"), encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("key") != key:
            return None
        for path, stamp in data["checkpoints"].items():
            if _stamp_any(path) != stamp:
                return None
        findings = tuple(
            WorkspaceFinding(Finding.from_record(item["finding"]), item["link"]) for item in data["findings"]
        )
        fixes = tuple(
            Fix(x["title"], tuple((SourceRange(*r), t) for r, t in x["edits"]), x["kind"]) for x in data["fixes"]
        )
        return WorkspaceReport(root, findings, data["links"], fixes, tuple(data["problems"]), from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
