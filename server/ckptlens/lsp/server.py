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

`CkptlensServer` is put together from its parts, one concern per file: `state.py` (what the
handlers share), `reads.py` (checkpoints), `extras.py` (size lenses, fit hints),
`documents.py` (scheduling, analysis, diagnostics), `features.py` (hover, lenses, actions,
commands, links, definition, pull) and `changes.py` (watched files, folders, polling); here
its lifecycle (initialize, settings, shutdown) and the handlers, each a few lines.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError

from ckptlens.lsp import convert
from ckptlens.lsp.changes import WorkspaceChanges
from ckptlens.lsp.features import (
    FIND_CHECKPOINTS,
    GENERATE_KEY_MAPPING,
    WRITE_FIXED_CHECKPOINT,
    Features,
)
from ckptlens.lsp.settings import parse_settings
from ckptlens.lsp.state import READERS
from ckptlens.lsp.worker import (  # noqa: F401 - read_index: tests and tools import it here
    AnalysisWorker,
    read_index,
)
from ckptlens.render.status import failure_in_words

WATCHED_GLOBS = ("**/*.{pt,pth,ckpt,bin,safetensors,pkl,tar,json}", "**/pyproject.toml", "**/*.py")


class CkptlensServer(Features, WorkspaceChanges):
    """The language server: its parts, and its lifecycle."""

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
