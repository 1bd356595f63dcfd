"""What the editor asks of a document, each answered from its latest analysis: code actions,
hover, code lenses, document links, go to definition, pulled diagnostics; and the commands
(`ckptlens.generateKeyMapping`, `ckptlens.findCheckpoints`,
`ckptlens.writeFixedCheckpoint.server`). The engine's part runs in the worker; here the
answers are converted (`convert.py`) and the words come from `ckptlens.render`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lsprotocol import types

from ckptlens.lsp import convert
from ckptlens.lsp.documents import DocumentAnalyses
from ckptlens.lsp.navigation import document_links, key_origin, string_at
from ckptlens.lsp.worker import AnalysisStopped, AnalysisWorker, WorkerError
from ckptlens.render.hover import hover_markdown

GENERATE_KEY_MAPPING = "ckptlens.generateKeyMapping"
FIND_CHECKPOINTS = "ckptlens.findCheckpoints"  # issue 17: for any LSP client
WRITE_FIXED_CHECKPOINT = "ckptlens.writeFixedCheckpoint.server"
WRITE_TIMEOUT = 3600.0  # s: ckptlens.writeFixedCheckpoint.server runs in a process of its own


class Features(DocumentAnalyses):
    """The requests and commands, each answered from a document's latest analysis."""

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
