"""The size lenses and fit hints of issue 17 (`ckptlens.lsp.sizes`), computed by the worker after
a document's analysis, stored per document version; fit hints join the diagnostics.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from lsprotocol import types

from ckptlens.lsp.reads import CheckpointReads
from ckptlens.lsp.results import DocumentAnalysis
from ckptlens.lsp.sizes import EditorExtras
from ckptlens.lsp.worker import AnalysisStopped, WorkerError


class SizeLensesAndHints(CheckpointReads):
    """A document's size lenses and fit hints, asked of the worker after its analysis."""

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
