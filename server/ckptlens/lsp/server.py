"""`ckptlens lsp`: the language server, a thin pygls adapter over the engine.

State lives on one `CkptlensServer`. Handlers run on the event loop and stay short: they read
the latest `DocumentAnalysis` of a document (frozen), or await the one being computed. The
engine never runs in this process: checkpoints are read by reader processes (cached here by
path + size + mtime, with $/progress when slow), and everything else that runs the engine —
plan, check, code actions, key mappings, size lenses, fit hints, finding checkpoints — is a
request to a worker process that owns the engine's caches (`Session`, see `worker.py`), driven
from one thread here. A read or an analysis that overruns `ckptlens.analysisTimeoutMs` is
killed with its process; the file the worker was busy with (it says which) is skipped by every
analysis until it changes, and gets one diagnostic saying so if it is open; documents larger
than `ckptlens.maxDocumentSize` are not analysed. Every document change schedules a debounced
analysis whose diagnostics are
published with the document's version (push), or returned to `textDocument/diagnostic` (pull)
when the client declares support for it. Changes outside the documents (settings, workspace
folders, watched files, and checkpoints no watcher reports, which are polled) re-check every
open document; all but watched files say so in the log ("ckptlens: re-checking: ...").
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError
from pygls.lsp.server import LanguageServer

from ckptlens import __version__
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.findings import Severity
from ckptlens.lsp import convert
from ckptlens.lsp.analysis import SessionOptions
from ckptlens.lsp.checkpoints import CheckpointCache, checkpoint_stamp
from ckptlens.lsp.navigation import document_links, key_origin, string_at
from ckptlens.lsp.results import DocumentAnalysis, keep_last_good
from ckptlens.lsp.settings import Settings, parse_settings
from ckptlens.lsp.sizes import FitHint, SizeLens
from ckptlens.lsp.stdio import Size, omitted_sizes
from ckptlens.lsp.worker import (  # noqa: F401 - read_index: tests and tools import it here
    AnalysisStopped,
    AnalysisWorker,
    CheckpointReader,
    WorkerError,
    read_index,
)
from ckptlens.render.hover import hover_markdown
from ckptlens.render.status import (
    failed_message,
    failure_in_words,
    halted_message,
    stopped_message,
    too_large_message,
    truncated_message,
)

GENERATE_KEY_MAPPING = "ckptlens.generateKeyMapping"
FIND_CHECKPOINTS = "ckptlens.findCheckpoints"  # issue 17: for any LSP client
WRITE_FIXED_CHECKPOINT = "ckptlens.writeFixedCheckpoint.server"
WATCHED_GLOBS = ("**/*.{pt,pth,ckpt,bin,safetensors,pkl,tar,json}", "**/pyproject.toml", "**/*.py")
# Checkpoints no client watcher reports (outside the workspace folders, or every one when the
# client cannot watch files) are polled: a stat each this often, re-read once a change settles.
POLL_SECONDS = 1.0
ANALYSIS_FAILED = "analysis-failed"
ANALYSIS_STOPPED = "analysis-stopped"
DOCUMENT_TOO_LARGE = "document-too-large"
WRITE_TIMEOUT = 3600.0  # s: ckptlens.writeFixedCheckpoint.server runs in a process of its own
READERS = 2  # checkpoint reader processes
# A document's diagnostics beyond this many are not published (their conversion runs on the
# event loop: 40,000 of them held it for seconds); one Information diagnostic says so.
MAX_DIAGNOSTICS = 500
DIAGNOSTICS_TRUNCATED = "diagnostics-truncated"

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditorExtras:
    """What the worker computed for one version of a document besides its analysis."""

    version: int | None
    sizes: tuple[SizeLens, ...] = ()
    hints: tuple[FitHint, ...] = ()


class CkptlensServer(LanguageServer):
    # "module:function" the analysis process calls before it starts (tests inject failures)
    worker_setup: str | None = None

    def __init__(self) -> None:
        super().__init__(
            "ckptlens", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental
        )
        self.settings = Settings()
        self.worker = AnalysisWorker([os.getcwd()], SessionOptions(), self.worker_setup)
        # path -> (its stamp, why): files whose analysis was killed, skipped until they change
        self.quarantine: dict[str, tuple[Any, str]] = {}
        # uri -> its size in bytes: documents whose text the transport left out (over the cap,
        # pygls holds "" or a text edited from it), never analysed until a full text under the
        # cap replaces it
        self.oversize: dict[str, Size] = {}
        self.extras: dict[str, EditorExtras] = {}  # uri -> its size lenses and fit hints (issue 17)
        self.pull_diagnostics = False
        self.analyses: dict[str, DocumentAnalysis] = {}
        self.analysis_generation: dict[str, int] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # uri -> (a scheduled analysis that has not started, the running one it waits for)
        self.waiting: dict[str, tuple[asyncio.Task[None], asyncio.Task[None] | None]] = {}
        self.generation = 0
        self.checkpoints = CheckpointCache()
        self.reads: dict[tuple[str, Any], asyncio.Future[CheckpointIndex | str]] = {}
        self.analysis_pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ckptlens-analysis"
        )
        self.read_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ckptlens-read")
        # Checkpoints are read in processes of their own (READERS, one per reading thread),
        # under the time cap: one hostile file holds up one reader, not every read.
        self.readers: list[CheckpointReader] = []
        self.reader_of = threading.local()
        self.reader_pool = ThreadPoolExecutor(
            max_workers=READERS, thread_name_prefix="ckptlens-reader"
        )
        self.logged: set[str] = set()
        self.client_uris: dict[str, str] = {}  # canonical path -> URI of an open document
        self.roots: list[str] = []  # the workspace folders, as paths
        self.watching = False  # the client reports changes of checkpoints in the workspace
        # uri -> the checkpoints its last analysis read, with their stamps (size, mtime)
        self.read_stamps: dict[str, dict[str, Any]] = {}
        self.settling: dict[str, Any] = {}  # a polled checkpoint's new stamp, seen once
        self.poller: asyncio.Task[None] | None = None

    # -- small helpers ----------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def log_message(
        self, message: str, kind: types.MessageType = types.MessageType.Warning
    ) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # noqa: BLE001 - the transport may be gone while shutting down
            log.warning("%s", message)

    def log_once(self, messages: Iterable[str]) -> None:
        for message in messages:
            if message not in self.logged:
                self.logged.add(message)
                if len(self.logged) > 1000:
                    self.logged.clear()
                self.log_message(message)

    def too_large(self, text: str, uri: str | None = None) -> bool:
        if uri is not None and uri in self.oversize:
            return True
        cap = self.settings.max_document_size
        return len(text) > cap or (not text.isascii() and len(text.encode("utf-8")) > cap)

    def open_texts(self) -> dict[str, str]:
        """Unsaved buffers of the open Python documents (within the size cap), by path."""
        out = {}
        for uri, doc in self.workspace.text_documents.items():
            path = convert.uri_to_path(uri)
            if path and path.endswith(".py"):
                source = doc.source
                if not self.too_large(source, uri):
                    out[path] = source
        return out

    def uri_of(self, path: str) -> str:
        """The URI the client uses for `path` (an open document may be reached by a symlink)."""
        return self.client_uris.get(path) or convert.path_to_uri(path)

    def lines_of(self, path: str) -> Sequence[str] | None:
        doc = self.workspace.text_documents.get(self.uri_of(path))
        if doc is not None:
            return doc.lines
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read().splitlines(keepends=True)
        except OSError:
            return None

    async def in_analysis(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the analysis thread (the one that talks to the worker process)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.analysis_pool, functools.partial(fn, *args))

    def start_reader(self) -> CheckpointReader:
        """This reading thread's reader process (started on its first use)."""
        reader: CheckpointReader | None = getattr(self.reader_of, "reader", None)
        if reader is None:
            reader = self.reader_of.reader = CheckpointReader(self.worker_setup)
            self.readers.append(reader)
            reader.start()
        return reader

    def read_isolated(self, path: str) -> CheckpointIndex | str:
        """On a reading thread: `path`'s index, read by that thread's reader process."""
        return self.start_reader().read(path, self.timeout)

    @property
    def timeout(self) -> float:
        return self.settings.analysis_timeout_ms / 1000

    async def work(self, op: str, *args: Any) -> Any:
        """`op` of the worker's Session, seeing the open buffers as they are now."""
        return await self.in_analysis(self.worker.call, op, args, self.open_texts(), self.timeout)

    def flush_session_log(self) -> None:
        log_lines, self.worker.log = self.worker.log, []
        self.log_once(log_lines)

    # -- lifecycle ----------------------------------------------------------------------------

    def on_initialize(self, params: types.InitializeParams) -> None:
        roots = [p for f in params.workspace_folders or [] if (p := convert.uri_to_path(f.uri))]
        if not roots and params.root_uri:
            roots = [p for p in [convert.uri_to_path(params.root_uri)] if p]
        if not roots and params.root_path:
            roots = [os.path.realpath(params.root_path)]
        self.settings, warnings = parse_settings(params.initialization_options)
        self.roots = roots
        self.worker.close()
        self.worker = AnalysisWorker(
            roots or [os.getcwd()], self.session_options(), self.worker_setup
        )
        self.analysis_pool.submit(self.worker.start)  # the first didOpen does not wait for it
        for _ in range(READERS):
            self.reader_pool.submit(self.start_reader)
        self.log_once(warnings)
        caps = params.capabilities
        self.pull_diagnostics = (
            caps.text_document is not None and caps.text_document.diagnostic is not None
        )
        if self.pull_diagnostics:
            options = types.DiagnosticOptions(
                identifier="ckptlens", inter_file_dependencies=True, workspace_diagnostics=False
            )
            self.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, options)(_pull_diagnostics)

    async def on_initialized(self) -> None:
        caps = self.client_capabilities.workspace
        watched = caps.did_change_watched_files if caps else None
        if watched is not None and watched.dynamic_registration:
            watchers = [types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED_GLOBS]
            registration = types.Registration(
                id="ckptlens-watched-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
            )
            try:
                params = types.RegistrationParams(registrations=[registration])
                await asyncio.wait_for(self.client_register_capability_async(params), 10)
                self.watching = True
            except Exception as exc:  # noqa: BLE001 - without watchers, edits still re-check
                self.log_message(f"ckptlens: could not watch checkpoint files: {exc}")
        self.poller = asyncio.ensure_future(self.poll_checkpoints())
        await self.fetch_settings()

    async def fetch_settings(self, pushed: Any = None) -> None:
        caps = self.client_capabilities.workspace
        raw = pushed
        if caps is not None and caps.configuration:
            items = [types.ConfigurationItem(section="ckptlens")]
            try:
                answer = await asyncio.wait_for(
                    self.workspace_configuration_async(types.ConfigurationParams(items=items)), 10
                )
                raw = answer[0] if answer else None
            except Exception as exc:  # noqa: BLE001 - keep the settings we have
                self.log_message(f"ckptlens: could not read the settings: {exc}")
        elif isinstance(pushed, dict):
            raw = pushed.get("ckptlens", pushed)
        if raw is None:
            return  # the client has no ckptlens settings: keep the initialization options
        settings, warnings = parse_settings(raw)
        self.log_once(warnings)
        if settings != self.settings:
            self.settings = settings
            self.analysis_pool.submit(self.worker.configure, self.session_options())
            self.set_quarantine({})  # a longer time limit, say: try them again
            self.rerun_all("the settings changed")

    def session_options(self) -> SessionOptions:
        s = self.settings
        return SessionOptions(
            hf_cache=s.hugging_face_cache,
            strict_false_ratio=s.strict_false_ratio,
            unverified_severity=s.unverified_severity,
            scan_workspace=s.scan_workspace,
            max_files=s.max_files,
            links=s.links,
        )

    def shutdown_pools(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        if self.poller is not None:
            self.poller.cancel()
        self.analysis_pool.shutdown(wait=False, cancel_futures=True)
        self.read_pool.shutdown(wait=False, cancel_futures=True)
        self.reader_pool.shutdown(wait=False, cancel_futures=True)
        self.worker.kill()
        for reader in self.readers:
            reader.kill()

    # -- scheduling -------------------------------------------------------------------------

    def opened(self, uri: str) -> None:
        path = convert.uri_to_path(uri)
        if path is not None:
            self.client_uris[path] = uri
        self.changed(uri)

    def changed(self, uri: str) -> None:
        """An idle document is analysed at once; changes arriving while an analysis of it is
        pending or running wait for the debounce window and coalesce into one follow-up."""
        self.generation += 1
        self.schedule(uri, self.settings.debounce_ms / 1000 if uri in self.tasks else 0)

    def texts_left_out(self, uri: str, changes: Sequence[Any]) -> None:
        """Track the documents whose text the transport left out (`stdio.omitted_sizes`),
        given the didOpen's document or the didChange's content changes, in order."""
        sizes = omitted_sizes.get()
        for i, change in enumerate(changes):
            size = sizes[i] if i < len(sizes) else None
            if size is not None:
                self.oversize[uri] = size
            elif getattr(change, "range", None) is None:  # a whole text, there in full
                self.oversize.pop(uri, None)
            # else: an edit of the current text, oversize (pygls' copy is partial) or not

    def closed(self, uri: str) -> None:
        self.oversize.pop(uri, None)
        task = self.tasks.pop(uri, None)
        if task is not None:
            task.cancel()
        self.analyses.pop(uri, None)
        self.extras.pop(uri, None)
        self.analysis_generation.pop(uri, None)
        self.read_stamps.pop(uri, None)
        path = convert.uri_to_path(uri)
        if path is not None and self.client_uris.get(path) == uri:
            del self.client_uris[path]
        self.generation += 1
        if not self.pull_diagnostics:
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
            # Its unsaved buffer is gone: documents that read it read the disk now.
            for other, analysis in list(self.analyses.items()):
                if path is not None and any(
                    path in (r.link.class_file, r.link.site_file) for r in analysis.results
                ):
                    self.schedule(other, 0)

    def schedule(self, uri: str, delay: float) -> asyncio.Task[None]:
        """Analyse `uri` after `delay`. A scheduled analysis that has not started is replaced;
        one that is running finishes (and publishes) first, then this one runs."""
        previous = self.tasks.get(uri)
        running: asyncio.Task[None] | None = None
        if previous is not None and not previous.done():
            waiting = self.waiting.get(uri)
            if waiting is not None and waiting[0] is previous:
                running = waiting[1]
                previous.cancel()
            else:
                running = previous
        task = asyncio.ensure_future(self._debounced(uri, delay, running))
        self.tasks[uri] = task
        self.waiting[uri] = (task, running)
        task.add_done_callback(functools.partial(self._task_done, uri))
        return task

    def _task_done(self, uri: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(uri) is task:
            del self.tasks[uri]
        waiting = self.waiting.get(uri)
        if waiting is not None and waiting[0] is task:
            del self.waiting[uri]

    async def _debounced(self, uri: str, delay: float, running: asyncio.Task[None] | None) -> None:
        if delay:
            await asyncio.sleep(delay)
        if running is not None and not running.done():
            await asyncio.wait({running})
        me = asyncio.current_task()
        if self.waiting.get(uri, (None,))[0] is me:
            del self.waiting[uri]  # started: no longer replaceable
        try:
            await self.analyse(uri)
        except asyncio.CancelledError:
            raise
        except AnalysisStopped as exc:
            self.flush_session_log()
            self.stopped(uri, exc)
        except WorkerError as exc:
            self.flush_session_log()
            self.log_message(
                f"ckptlens: analysis of {uri} failed: {exc.kind}: {exc}\n{exc.details}",
                types.MessageType.Error,
            )
            self.keep_last(uri, failure_in_words(exc.kind, str(exc)))
        except Exception as exc:  # noqa: BLE001 - never let one document take the server down
            self.log_message(
                f"ckptlens: analysis of {uri} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
                types.MessageType.Error,
            )
            try:
                self.keep_last(uri, failure_in_words(type(exc).__name__, str(exc)))
            except Exception as again:  # noqa: BLE001
                self.log_message(
                    f"ckptlens: reporting the failed analysis of {uri} failed: {again}",
                    types.MessageType.Error,
                )

    def stopped(self, uri: str, exc: AnalysisStopped) -> None:
        """The worker was killed analysing `uri` (or died). The file it was busy with is
        skipped until it changes; if that is another file, `uri` is analysed again without it."""
        path = convert.uri_to_path(uri)
        culprit = exc.culprit or path
        if culprit is None:
            return
        where = "" if culprit == path else f" (while reading {uri})"
        self.log_message(f"ckptlens: stopped analysing {self.uri_of(culprit)}{where}: {exc.reason}")
        quarantine = dict(self.quarantine)
        quarantine[culprit] = (self.file_stamp(culprit), exc.reason)
        self.set_quarantine(quarantine)
        if culprit == path:
            self.halt(uri, ANALYSIS_STOPPED, stopped_message(exc.reason))
            return
        self.schedule(uri, 0)
        other = self.uri_of(culprit)
        if other in self.workspace.text_documents and other not in self.tasks:
            self.schedule(other, 0)

    def file_stamp(self, path: str) -> Any:
        """What says that a file changed: its open buffer, else its size and mtime."""
        doc = self.workspace.text_documents.get(self.uri_of(path))
        if doc is not None:
            text = doc.source
            return ("text", len(text), hash(text))
        try:
            st = os.stat(path)
        except OSError:
            return None
        return ("disk", st.st_size, st.st_mtime_ns)

    def set_quarantine(self, quarantine: dict[str, tuple[Any, str]]) -> None:
        if set(quarantine) != set(self.quarantine):
            self.analysis_pool.submit(self.worker.set_skip, frozenset(quarantine))
        self.quarantine = quarantine

    def refresh_quarantine(self) -> None:
        """Files that changed since their analysis was killed are analysed again."""
        kept = {p: q for p, q in self.quarantine.items() if self.file_stamp(p) == q[0]}
        if len(kept) != len(self.quarantine):
            self.set_quarantine(kept)

    def halt(self, uri: str, code: str, message: str) -> None:
        """The document's analysis was stopped, or not started: it gets one diagnostic saying
        why (beside the last good ones, if any), and no re-analysis until it changes."""
        doc = self.workspace.text_documents.get(uri)
        path = convert.uri_to_path(uri)
        if doc is None or path is None:
            return
        previous = self.analyses.get(uri) or DocumentAnalysis(path, doc.version)
        if code == DOCUMENT_TOO_LARGE:
            previous = DocumentAnalysis(path, doc.version)
        self.analyses[uri] = halted = replace(
            previous, version=doc.version, stale=True, failure=None, halted=(code, message)
        )
        self.analysis_generation[uri] = self.generation
        if not self.pull_diagnostics:
            self.publish(uri, halted)

    def keep_last(self, uri: str, failure: str) -> None:
        """After a failure, the document still gets diagnostics for its version: the last good,
        and one saying that the analysis failed (never an empty list that reads as clean)."""
        doc = self.workspace.text_documents.get(uri)
        path = convert.uri_to_path(uri)
        if doc is None or path is None:
            return
        previous = self.analyses.get(uri) or DocumentAnalysis(path, doc.version)
        self.analyses[uri] = kept = replace(
            previous, version=doc.version, stale=True, failure=failure
        )
        self.analysis_generation[uri] = self.generation
        if not self.pull_diagnostics:
            self.publish(uri, kept)

    def rerun_all(self, reason: str | None = None) -> None:
        """Something outside the documents changed (a checkpoint, pyproject.toml, settings).
        With a `reason`, the re-check is logged (Info) once it is under way: from then on every
        pull answers fresh, and every push that follows is the new result."""
        self.generation += 1
        if self.pull_diagnostics:
            self.analyses.clear()
            refresh = self.client_capabilities.workspace
            if refresh and refresh.diagnostics and refresh.diagnostics.refresh_support:
                self.workspace_diagnostic_refresh(None)
        else:
            for uri in list(self.workspace.text_documents):
                if uri.endswith(".py"):
                    self.schedule(uri, 0)
        if reason:
            self.log_message(f"ckptlens: re-checking: {reason}", types.MessageType.Info)

    async def analyse(self, uri: str) -> None:
        doc = self.workspace.text_documents.get(uri)
        path = convert.uri_to_path(uri)
        if doc is None or path is None or not path.endswith(".py"):
            return
        version, generation = doc.version, self.generation
        previous = self.analyses.get(uri)
        self.refresh_quarantine()
        if path in self.quarantine:  # killed on this very text: not again until it changes
            self.halt(uri, ANALYSIS_STOPPED, stopped_message(self.quarantine[path][1]))
            return
        if self.too_large(doc.source, uri):
            left_out = self.oversize.get(uri)
            if isinstance(left_out, Future):  # counted in the transport's thread
                left_out = await asyncio.wrap_future(left_out)
                if uri not in self.workspace.text_documents:
                    return  # closed meanwhile
            size = left_out or len(doc.source.encode("utf-8", errors="replace"))
            cap = self.settings.max_document_size
            self.halt(uri, DOCUMENT_TOO_LARGE, too_large_message(size, cap))
            return
        overlays = self.open_texts()
        planned, related = await self.in_analysis(
            self.worker.call, "plan", (path,), overlays, self.timeout
        )
        indexes, stamps = await self.read_checkpoints({r.path for _, r in planned if r.path})
        analysis = await self.in_analysis(
            self.worker.analyse,
            path,
            version,
            planned,
            {p: (stamps.get(p), index) for p, index in indexes.items()},
            generation,
            overlays,
            self.timeout,
        )
        if analysis.stale:
            analysis = replace(keep_last_good(previous, path, version), halted=None)
        self.flush_session_log()
        if uri not in self.workspace.text_documents:
            return  # closed meanwhile
        self.read_stamps[uri] = {p: s for p, s in stamps.items() if s is not None}
        if self.pull_diagnostics:  # pulled reports wait for the analysis: hints included
            extras = await self.compute_extras(uri, analysis)
            if uri not in self.workspace.text_documents:
                return
            analysis = self.with_hints(analysis, extras)
            self.extras[uri] = extras
        stored = self.analyses.get(uri)
        if stored is None or stored.version is None or version is None or version >= stored.version:
            self.analyses[uri] = analysis
            self.analysis_generation[uri] = generation
        if not self.pull_diagnostics:
            self.publish(uri, analysis)
            self.follow_related(uri, related)
            # size lenses and fit hints come after the check's diagnostics; the diagnostics are
            # published again only if there are hints
            extras = await self.compute_extras(uri, analysis)
            if uri not in self.workspace.text_documents:
                return
            self.extras[uri] = extras
            hinted = self.with_hints(analysis, extras)
            if hinted is not analysis and self.analyses.get(uri) is analysis:
                self.analyses[uri] = hinted
                self.publish(uri, hinted)

    def follow_related(self, uri: str, related: Iterable[str]) -> None:
        """Open documents whose diagnostics depend on this one (a load call of a class defined
        here, the class of a load call here) are re-checked too."""
        for path in related:
            other = self.uri_of(path)
            if (
                other != uri
                and other in self.workspace.text_documents
                and self.analysis_generation.get(other, -1) < self.generation
            ):
                if other not in self.tasks:
                    self.schedule(other, 0)

    def publish(self, uri: str, analysis: DocumentAnalysis) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=self.diagnostics(uri, analysis), version=analysis.version
            )
        )

    def diagnostics(self, uri: str, analysis: DocumentAnalysis) -> list[types.Diagnostic]:
        doc = self.workspace.text_documents.get(uri)
        lines = doc.lines if doc is not None and analysis.problems else None
        problems = analysis.problems
        if len(problems) > MAX_DIAGNOSTICS:  # errors first, then warnings, ..., each in order
            order = (Severity.ERROR, Severity.WARNING, Severity.INFORMATION, Severity.HINT)
            first = [p for severity in order for p in problems if p.finding.severity == severity]
            problems = tuple(first[:MAX_DIAGNOSTICS])
        out = [convert.diagnostic(p, lines, self.encoding) for p in problems]
        if len(problems) < len(analysis.problems):
            start = types.Position(0, 0)
            out.insert(
                0,
                types.Diagnostic(
                    range=types.Range(start, start),
                    message=truncated_message(len(problems), len(analysis.problems)),
                    severity=types.DiagnosticSeverity.Information,
                    code=DIAGNOSTICS_TRUNCATED,
                    source=convert.SOURCE,
                ),
            )
        if analysis.halted is not None:
            code, message = analysis.halted
            message = halted_message(message, bool(out))
            start = types.Position(0, 0)
            severity = (
                types.DiagnosticSeverity.Information
                if code == DOCUMENT_TOO_LARGE
                else types.DiagnosticSeverity.Warning
            )
            out.insert(
                0,
                types.Diagnostic(
                    range=types.Range(start, start),
                    message=message,
                    severity=severity,
                    code=code,
                    source=convert.SOURCE,
                ),
            )
        elif analysis.failure is not None:
            message = failed_message(analysis.failure, bool(out))
            start = types.Position(0, 0)
            out.insert(
                0,
                types.Diagnostic(
                    range=types.Range(start, start),
                    message=message,
                    severity=types.DiagnosticSeverity.Error,
                    code=ANALYSIS_FAILED,
                    source=convert.SOURCE,
                ),
            )
        return out

    async def current_analysis(self, uri: str) -> DocumentAnalysis | None:
        """The analysis of the document's current version (awaiting it if needed)."""
        path = convert.uri_to_path(uri)
        if path is None or not path.endswith(".py"):
            return None
        for _ in range(20):
            doc = self.workspace.text_documents.get(uri)
            if doc is None:
                return self.analyses.get(uri)
            analysis = self.analyses.get(uri)
            if (
                analysis is not None
                and analysis.version == doc.version
                and self.analysis_generation.get(uri) == self.generation
            ):
                return analysis
            task = self.tasks.get(uri)
            if task is None:
                task = self.schedule(uri, 0)
            await asyncio.wait({task})
        return self.analyses.get(uri)

    async def latest_analysis(self, uri: str) -> DocumentAnalysis | None:
        """For hover, lenses, links and actions: the analysis of this version of the document
        (other documents may have changed since), or the last one while typing."""
        analysis = self.analyses.get(uri)
        doc = self.workspace.text_documents.get(uri)
        if analysis is not None and (
            uri in self.tasks or (doc is not None and analysis.version == doc.version)
        ):
            return analysis
        return await self.current_analysis(uri)

    # -- checkpoints --------------------------------------------------------------------------

    async def read_checkpoints(
        self, paths: Iterable[str]
    ) -> tuple[dict[str, CheckpointIndex | str], dict[str, Any]]:
        loop = asyncio.get_running_loop()
        indexes: dict[str, CheckpointIndex | str] = {}
        stamps: dict[str, Any] = {}
        waiting: dict[str, asyncio.Future[CheckpointIndex | str]] = {}
        for path in sorted(paths):
            stamp = checkpoint_stamp(path)
            stamps[path] = stamp
            cached = self.checkpoints.get(path, stamp)
            if cached is not None:
                indexes[path] = cached
                continue
            key = (path, stamp)
            future = self.reads.get(key)
            if future is None:
                future = loop.run_in_executor(self.reader_pool, self.read_isolated, path)
                self.reads[key] = future
                future.add_done_callback(functools.partial(self._read_done, key))
            waiting[path] = future
        if waiting:
            after = self.settings.progress_after_ms
            pending = set(waiting.values())
            if after:  # 0: every read is reported
                _, pending = await asyncio.wait(pending, timeout=after / 1000)
            if pending:
                names = ", ".join(os.path.basename(p) for p, f in waiting.items() if f in pending)
                await self.with_progress(f"Reading {names}", asyncio.wait(pending))
            for path, future in waiting.items():
                indexes[path] = future.result()
        return indexes, stamps

    def _read_done(
        self, key: tuple[str, Any], future: asyncio.Future[CheckpointIndex | str]
    ) -> None:
        self.reads.pop(key, None)
        if not future.cancelled() and future.exception() is None:
            self.checkpoints.put(key[0], key[1], future.result())

    async def with_progress(self, message: str, work: Awaitable[Any]) -> None:
        window = self.client_capabilities.window
        token = f"ckptlens-{uuid.uuid4()}"
        progress = bool(window and window.work_done_progress)
        if progress:
            try:
                await asyncio.wait_for(self.work_done_progress.create_async(token), 5)
            except Exception:  # noqa: BLE001 - progress is a courtesy
                progress = False
        if progress:
            self.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title="ckptlens", message=message)
            )
        try:
            await work
        finally:
            if progress:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))

    # -- features -----------------------------------------------------------------------------

    async def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        analysis = await self.latest_analysis(uri)
        path = convert.uri_to_path(uri)
        if analysis is None or path is None:
            return []
        lines = self.lines_of(analysis.path)
        ranges = [params.range] + [
            d.range for d in params.context.diagnostics if d.source == convert.SOURCE
        ]
        only = [str(k) for k in params.context.only] if params.context.only else None
        found: dict[str, types.CodeAction] = {}
        for lsp_range in ranges:
            request = convert.source_range(analysis.path, lsp_range, lines, self.encoding)
            try:
                actions = await self.in_analysis(
                    self.worker.code_actions, analysis, request, only, self.open_texts(), self.timeout
                )
            except AnalysisStopped as exc:
                self.log_message(f"ckptlens: stopped computing the code actions of {uri}: {exc}")
                return list(found.values())
            for action in actions:
                if action.fix.title in found:
                    continue
                answered = {
                    (code, convert.lsp_range(r, self.lines_of(r.file), self.encoding).start.line)
                    for code, r in action.answers
                }
                diagnostics = [
                    d
                    for d in params.context.diagnostics
                    if d.source == convert.SOURCE and (d.code, d.range.start.line) in answered
                ]
                found[action.fix.title] = convert.code_action(
                    action.fix,
                    diagnostics,
                    self.lines_of,
                    self.encoding,
                    self.uri_of,
                    action.preferred,
                )
        self.flush_session_log()
        return list(found.values())

    async def generate_key_mapping(self, uri: str, class_name: str) -> bool:
        analysis = await self.current_analysis(uri)
        if analysis is None:
            return False
        candidates = [
            o for o in analysis.results if o.link.class_name == class_name and o.mismatches
        ]
        candidates.sort(key=lambda o: o.link.site_file != analysis.path)  # a load call here first
        for outcome in candidates:
            try:
                action = await self.in_analysis(
                    self.worker.mapping_action, analysis, outcome, self.open_texts(), self.timeout
                )
            except AnalysisStopped as exc:
                self.log_message(f"ckptlens: stopped generating the key mapping: {exc}")
                return False
            if action is None:
                continue
            edit = convert.workspace_edit(
                action.fix.edits, self.lines_of, self.encoding, self.uri_of
            )
            result = await self.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=action.fix.title)
            )
            return bool(result.applied)
        self.log_message(
            f"ckptlens: no key mapping to generate for `{class_name}`", types.MessageType.Info
        )
        return False

    async def hover(self, params: types.HoverParams) -> types.Hover | None:
        analysis = await self.latest_analysis(params.text_document.uri)
        if analysis is None:
            return None
        text = hover_markdown(analysis, params.position.line + 1)
        extras = await self.extras_for(params.text_document.uri, analysis)
        sizes = [s.hover for s in extras.sizes if s.range.start_line == params.position.line + 1]
        if sizes:
            text = "\n\n---\n\n".join([*([text] if text else []), *sizes])
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    async def code_lenses(self, uri: str) -> list[types.CodeLens]:
        analysis = await self.latest_analysis(uri)
        if analysis is None or not self.settings.code_lens:
            return []
        lines = self.lines_of(analysis.path)
        out = []
        for lens in analysis.lenses:
            command = types.Command(
                title=lens.title,
                command=GENERATE_KEY_MAPPING if lens.mismatching else "",
                arguments=[uri, lens.class_name] if lens.mismatching else None,
            )
            out.append(
                types.CodeLens(
                    range=convert.lsp_range(lens.range, lines, self.encoding), command=command
                )
            )
        for size in (await self.extras_for(uri, analysis)).sizes:
            out.append(
                types.CodeLens(
                    range=convert.lsp_range(size.range, lines, self.encoding),
                    command=types.Command(title=size.title, command=""),
                )
            )
        return out

    # -- issue 17: size lenses, fit hints (ckptlens.lsp.sizes), computed in the worker -------

    async def compute_extras(self, uri: str, analysis: DocumentAnalysis) -> EditorExtras:
        """The size lenses and fit hints of this analysis, from the worker (under the same
        time cap as an analysis). A stopped or failed computation is logged and leaves the
        document without them until it changes; it never stops its analysis."""
        sizes, hints = self.settings.size_lens, self.settings.fit_hints
        if analysis.stale or analysis.halted is not None or not (sizes or hints):
            return EditorExtras(analysis.version)
        try:
            lenses, found = await self.in_analysis(
                self.worker.extras, analysis, sizes, hints, self.generation, self.open_texts(), self.timeout
            )
        except AnalysisStopped as exc:
            self.flush_session_log()
            self.log_message(f"ckptlens: stopped computing the size lenses and fit hints of {uri}: {exc}")
            return EditorExtras(analysis.version)
        except WorkerError as exc:
            self.flush_session_log()
            self.log_message(
                f"ckptlens: the size lenses and fit hints of {uri} failed: {exc.kind}: {exc}\n{exc.details}",
                types.MessageType.Error,
            )
            return EditorExtras(analysis.version)
        self.flush_session_log()
        return EditorExtras(analysis.version, tuple(lenses), tuple(found))

    async def extras_for(self, uri: str, analysis: DocumentAnalysis) -> EditorExtras:
        """The extras of `analysis` as stored; while its analysis task is still running (the
        extras follow the diagnostics), they are awaited. Never starts worker work itself:
        a hover is answered from what is stored."""
        stored = self.extras.get(uri)
        if stored is not None and stored.version == analysis.version:
            return stored
        task = self.tasks.get(uri)
        if task is not None and not task.done():
            await asyncio.wait({task})
            stored = self.extras.get(uri)
            if stored is not None and stored.version == analysis.version:
                return stored
        return EditorExtras(analysis.version)

    @staticmethod
    def with_hints(analysis: DocumentAnalysis, extras: EditorExtras) -> DocumentAnalysis:
        from ckptlens.api import CheckpointsFit
        from ckptlens.workspace.rules import LinkFinding

        if not extras.hints:
            return analysis
        problems = tuple(
            LinkFinding(CheckpointsFit(h.message, h.checkpoints).at(h.range), h.checkpoints[0])
            for h in extras.hints
        )
        return replace(analysis, problems=(*analysis.problems, *problems))

    async def find_checkpoints(self, path: str, class_name: str) -> list[dict[str, Any]]:
        """`ckptlens.findCheckpoints`, in the worker under the analysis time cap."""
        try:
            return await self.work("find_checkpoints", path, class_name)
        except AnalysisStopped as exc:
            self.log_message(f"ckptlens: stopped finding checkpoints for `{class_name}`: {exc}")
            return []
        finally:
            self.flush_session_log()

    async def write_fixed_checkpoint(
        self, path: str, class_name: str, out: str, checkpoint: str | None, shard: str | None
    ) -> dict[str, Any]:
        """`ckptlens.writeFixedCheckpoint.server`: in a process of its own (writing a large
        checkpoint takes minutes; documents go on being analysed meanwhile), killed after
        WRITE_TIMEOUT seconds."""
        worker = AnalysisWorker(
            self.roots or [os.getcwd()], self.session_options(), self.worker_setup
        )
        loop = asyncio.get_running_loop()
        args = (path, class_name, out, checkpoint, shard)
        try:
            return await loop.run_in_executor(
                None,
                worker.call,
                "write_fixed_checkpoint",
                args,
                self.open_texts(),
                max(WRITE_TIMEOUT, self.timeout),
            )
        except AnalysisStopped as exc:
            return {"error": f"stopped writing {out}: {exc.reason}"}
        except WorkerError as exc:
            return {"error": " ".join(str(exc).split()) or exc.kind}
        finally:
            self.log_once(worker.log)
            await loop.run_in_executor(None, worker.close)

    async def document_links(self, uri: str) -> list[types.DocumentLink]:
        analysis = await self.latest_analysis(uri)
        if analysis is None:
            return []
        lines = self.lines_of(analysis.path)
        caps = self.client_capabilities.text_document
        tooltips = bool(caps and caps.document_link and caps.document_link.tooltip_support)
        return [
            types.DocumentLink(
                range=convert.lsp_range(t.range, lines, self.encoding),
                target=self.uri_of(t.target),
                tooltip=t.target if tooltips else None,
            )
            for t in document_links(analysis)
        ]

    async def definition(self, params: types.DefinitionParams) -> types.Location | None:
        doc = self.workspace.text_documents.get(params.text_document.uri)
        path = convert.uri_to_path(params.text_document.uri)
        if doc is None or path is None or self.too_large(doc.source, params.text_document.uri):
            return None
        if params.position.line >= len(doc.lines):
            return None
        line = doc.lines[params.position.line]
        where = convert.source_range(
            path, types.Range(params.position, params.position), doc.lines, self.encoding
        )
        key = string_at(line, where.start_col)
        if key is None:
            return None
        await self.latest_analysis(params.text_document.uri)
        origin = key_origin(list(self.analyses.values()), key)
        return (
            convert.location(origin, self.lines_of, self.encoding, self.uri_of) if origin else None
        )

    async def pull(self, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        analysis = await self.current_analysis(uri)
        items = self.diagnostics(uri, analysis) if analysis is not None else []
        result_id = (
            f"{self.generation}-{analysis.version if analysis else 'none'}-{hash(repr(items))}"
        )
        if params.previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)

    def watched_files_changed(self, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            path = convert.uri_to_path(change.uri)
            if path is None:
                continue
            if path.endswith(".py") and change.type != types.FileChangeType.Changed:
                self.session_invalidate(path)
            self.checkpoints.forget(path)
        self.analysis_pool.submit(self.worker.forget)
        self.rerun_all()

    def session_invalidate(self, path: str) -> None:
        self.analysis_pool.submit(self.worker.invalidate, path)

    async def folders_changed(self, params: types.DidChangeWorkspaceFoldersParams) -> None:
        """Folders added to or removed from the workspace: their pyproject.toml links and load
        calls come and go."""
        removed = {p for f in params.event.removed if (p := convert.uri_to_path(f.uri))}
        roots = [r for r in self.roots if r not in removed]
        for folder in params.event.added:
            path = convert.uri_to_path(folder.uri)
            if path and path not in roots:
                roots.append(path)
        if roots == self.roots:
            return
        self.roots = roots
        self.analysis_pool.submit(self.worker.set_roots, roots)
        names = [os.path.basename(r) or r for r in roots]
        self.rerun_all(f"the workspace folders changed ({', '.join(names) or 'none'})")

    # -- checkpoints no client watcher reports --------------------------------------------------

    def reported_by_client(self, path: str) -> bool:
        """Whether the client's file watchers (registered for the workspace) see `path`."""
        if not self.watching:
            return False
        return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots)

    async def poll_checkpoints(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.check_checkpoints()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling must go on
                self.log_message(f"ckptlens: checking checkpoints for changes failed: {exc}")

    async def check_checkpoints(self) -> None:
        """Stat the checkpoints the open documents were checked against that no watcher
        reports; one whose size or mtime changed, and then held still for a poll (a save in
        progress keeps changing), is read again and the documents re-checked."""
        read: dict[str, Any] = {}
        for uri, stamps in self.read_stamps.items():
            if uri in self.workspace.text_documents:
                for path, stamp in stamps.items():
                    if not self.reported_by_client(path):
                        read.setdefault(path, stamp)
        self.settling = {p: s for p, s in self.settling.items() if p in read}
        if not read:
            return
        loop = asyncio.get_running_loop()
        paths = sorted(read)
        now = await loop.run_in_executor(
            self.read_pool, lambda: [checkpoint_stamp(p) for p in paths]
        )
        current = dict(zip(paths, now, strict=True))
        changed = []
        for path, stamp in current.items():
            if stamp == read[path]:
                self.settling.pop(path, None)
            elif path in self.settling and self.settling[path] == stamp:
                del self.settling[path]
                changed.append(path)
            else:
                self.settling[path] = stamp
        if not changed:
            return
        for path in changed:
            self.checkpoints.forget(path)
            for stamps in self.read_stamps.values():
                if path in stamps:
                    stamps[path] = current[path]
        self.rerun_all(f"{', '.join(changed)} changed on disk")


# -- handlers: each a few lines, errors logged and answered empty ------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def guarded(default: Any = None) -> Callable[[F], F]:
    """Catch and log a handler's exceptions: the client gets `default`, the server lives on."""

    def wrap(handler: F) -> F:
        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(ls: CkptlensServer, *args: Any) -> Any:
                try:
                    return await handler(ls, *args)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    ls.log_message(
                        f"ckptlens: {handler.__name__} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
                        types.MessageType.Error,
                    )
                    return default

            return run_async  # type: ignore[return-value]

        @functools.wraps(handler)
        def run(ls: CkptlensServer, *args: Any) -> Any:
            try:
                return handler(ls, *args)
            except Exception as exc:  # noqa: BLE001
                ls.log_message(
                    f"ckptlens: {handler.__name__} failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
                    types.MessageType.Error,
                )
                return default

        return run  # type: ignore[return-value]

    return wrap


async def _pull_diagnostics(
    ls: CkptlensServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    """Pull diagnostics. A failure is logged and answered with an error, never with an empty
    report that the client would take for a clean file."""
    try:
        return await ls.pull(params)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001
        ls.log_message(
            f"ckptlens: textDocument/diagnostic failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
            types.MessageType.Error,
        )
        raise JsonRpcInternalError(
            f"ckptlens could not compute the diagnostics of {params.text_document.uri}: "
            f"{failure_in_words(type(exc).__name__, str(exc))}"
        ) from exc


def create_server() -> CkptlensServer:
    server = CkptlensServer()

    @server.feature(types.INITIALIZE)
    @guarded()
    def initialize(ls: CkptlensServer, params: types.InitializeParams) -> None:
        ls.on_initialize(params)

    @server.feature(types.INITIALIZED)
    @guarded()
    async def initialized(ls: CkptlensServer, params: types.InitializedParams) -> None:
        await ls.on_initialized()

    @server.feature(types.SHUTDOWN)
    @guarded()
    def shutdown(ls: CkptlensServer, params: None) -> None:
        ls.shutdown_pools()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded()
    def did_open(ls: CkptlensServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.texts_left_out(params.text_document.uri, [params.text_document])
        ls.opened(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded()
    def did_change(ls: CkptlensServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.texts_left_out(params.text_document.uri, params.content_changes)
        ls.changed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded()
    def did_close(ls: CkptlensServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.closed(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    @guarded()
    def watched(ls: CkptlensServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.watched_files_changed(params)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    @guarded()
    async def folders(ls: CkptlensServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        await ls.folders_changed(params)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @guarded()
    async def configuration(ls: CkptlensServer, params: types.DidChangeConfigurationParams) -> None:
        await ls.fetch_settings(params.settings)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=False
        ),
    )
    @guarded([])
    async def code_action(
        ls: CkptlensServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        return await ls.code_actions(params)

    @server.command(GENERATE_KEY_MAPPING)
    @guarded(False)
    async def generate_key_mapping(ls: CkptlensServer, *arguments: Any) -> bool:
        uri, class_name = (list(arguments) + [None, None])[:2]
        return await ls.generate_key_mapping(str(uri), str(class_name))

    @server.command(FIND_CHECKPOINTS)
    @guarded([])
    async def find_checkpoints(ls: CkptlensServer, *arguments: Any) -> list[dict[str, Any]]:
        """[uri, className] -> the workspace's checkpoints ranked for the class (issue 17)."""
        uri, class_name = (list(arguments) + [None, None])[:2]
        path = convert.uri_to_path(str(uri))
        if path is None or not class_name:
            return []
        return await ls.find_checkpoints(path, str(class_name))

    @server.command(WRITE_FIXED_CHECKPOINT)
    @guarded({"error": "internal error"})
    async def write_fixed_checkpoint(ls: CkptlensServer, *arguments: Any) -> dict[str, Any]:
        """[uri, className, out, checkpoint?, maxShardSize?] -> `map --write`'s report."""
        uri, class_name, out, checkpoint, shard = (list(arguments) + [None] * 5)[:5]
        path = convert.uri_to_path(str(uri))
        if path is None or not class_name or not out:
            return {"error": "expected [uri, className, out, checkpoint?, maxShardSize?]"}
        return await ls.write_fixed_checkpoint(
            path, str(class_name), str(out),
            str(checkpoint) if checkpoint else None, str(shard) if shard else None,
        )  # fmt: skip

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded()
    async def hover(ls: CkptlensServer, params: types.HoverParams) -> types.Hover | None:
        return await ls.hover(params)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    @guarded([])
    async def code_lens(ls: CkptlensServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return await ls.code_lenses(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_DOCUMENT_LINK, types.DocumentLinkOptions(resolve_provider=False)
    )
    @guarded([])
    async def document_link(
        ls: CkptlensServer, params: types.DocumentLinkParams
    ) -> list[types.DocumentLink]:
        return await ls.document_links(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @guarded()
    async def definition(
        ls: CkptlensServer, params: types.DefinitionParams
    ) -> types.Location | None:
        return await ls.definition(params)

    return server


def run_stdio() -> None:
    server = create_server()
    # Start-up objects (lsprotocol's converters, the engine's tables) never die: keep them out
    # of the collector's full passes. Each analysis allocates a whole AST (~30,000 nodes for a
    # 1,000-line file); a larger first generation stops those from being promoted and scanned
    # again and again (measured: p95 of a re-check 46 ms -> 31 ms on the benchmark model).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    from ckptlens.lsp.stdio import serve_stdio
    from ckptlens.lsp.worker import prestart

    prestart()
    try:
        status = serve_stdio(server)
    finally:
        server.worker.kill()
    if status:
        sys.exit(status)
