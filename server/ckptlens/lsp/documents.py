"""A document's analyses: every change schedules a debounced analysis (one at a time per
document, changes coalescing into one follow-up), run by the worker on the checkpoints read;
its diagnostics published (push) or kept for `textDocument/diagnostic` (pull). An analysis
that fails keeps the last good diagnostics beside one saying so; one killed for overrunning
quarantines the file it was busy with until that file changes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from lsprotocol import types

from ckptlens.findings import Severity
from ckptlens.lsp import convert
from ckptlens.lsp.extras import SizeLensesAndHints
from ckptlens.lsp.results import DocumentAnalysis, keep_last_good
from ckptlens.lsp.stdio import omitted_sizes
from ckptlens.lsp.worker import AnalysisStopped, WorkerError
from ckptlens.render.status import (
    failed_message,
    failure_in_words,
    halted_message,
    stopped_message,
    too_large_message,
    truncated_message,
)

ANALYSIS_FAILED = "analysis-failed"
ANALYSIS_STOPPED = "analysis-stopped"
DOCUMENT_TOO_LARGE = "document-too-large"
# A document's diagnostics beyond this many are not published (their conversion runs on the
# event loop: 40,000 of them held it for seconds); one Information diagnostic says so.
MAX_DIAGNOSTICS = 500
DIAGNOSTICS_TRUNCATED = "diagnostics-truncated"


class DocumentAnalyses(SizeLensesAndHints):
    """Each open document's analysis: scheduled, run, stored, its diagnostics published."""

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
