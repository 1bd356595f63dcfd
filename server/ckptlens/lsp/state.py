"""The state of the language server: one `ServerState` (every cache and table the handlers
share, created empty) and the small helpers over it — the documents' unsaved texts, the size
cap, the client's URIs and lines, the analysis thread, the reader processes, the log.
`CkptlensServer` (`server.py`) is this plus its parts: `reads.py` (checkpoints), `extras.py`
(size lenses and fit hints), `documents.py` (analysis and diagnostics), `features.py` (hover,
lenses, actions, commands, links), `changes.py` (settings aside, what changes outside the
documents).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ckptlens import __version__
from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.lsp import convert
from ckptlens.lsp.analysis import SessionOptions
from ckptlens.lsp.checkpoints import CheckpointCache
from ckptlens.lsp.results import DocumentAnalysis
from ckptlens.lsp.settings import Settings
from ckptlens.lsp.sizes import EditorExtras
from ckptlens.lsp.stdio import Size
from ckptlens.lsp.worker import AnalysisWorker, CheckpointReader

T = TypeVar("T")
log = logging.getLogger("ckptlens.lsp.server")
READERS = 2  # checkpoint reader processes


class ServerState(LanguageServer):
    """Everything the handlers share, and the helpers over it (the behaviour: its subclasses)."""

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
