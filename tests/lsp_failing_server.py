"""`ckptlens lsp` with injected failures, for tests/test_lsp.py.

A document whose text holds `FAIL_ANALYSIS` makes the analysis raise; one holding `HANG_ANALYSIS`
makes it sleep for an hour (a hang no budget checks), and a file holding `HANG_SCAN` makes the
workspace scan of that file do so, as does reading a checkpoint whose name holds `HANG_READ`; one holding `FAIL_HANDLER` makes the
conversion of its diagnostics raise (what the pull handler calls).
With `--no-engine-in-server`, the server process itself (not its analysis worker) raises the
moment it builds an analysis session, an analyzer or an interpreter: the engine may run only in
the worker. Everything else is the real server. Run: `python tests/lsp_failing_server.py`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

FAIL_ANALYSIS = "# ckptlens-test: fail the analysis"
FAIL_HANDLER = "# ckptlens-test: fail the diagnostics handler"
HANG_ANALYSIS = "# ckptlens-test: hang the analysis"
HANG_SCAN = "# ckptlens-test: hang the scan"
HANG_READ = "hang-read"  # a checkpoint whose file name has this: its read hangs
NO_ENGINE_IN_SERVER = "--no-engine-in-server"
ENGINE_IN_SERVER = "the engine ran in the language server's own process"


def patch_analysis() -> None:
    """In the analysis and reader processes (`CkptlensServer.worker_setup`): the analysis fails
    on the markers, the read of a checkpoint named `HANG_READ` hangs."""
    from ckptlens.lsp import analysis, worker
    from ckptlens.workspace import index as links
    from ckptlens.workspace import model

    read = worker.read_index

    def hanging_read(path: str) -> Any:
        if HANG_READ in path:
            time.sleep(3600)
        return read(path)

    worker.read_index = hanging_read

    analyse = analysis.Session.analyse
    scan = links.WorkspaceIndex.scan

    def hanging_scan(
        self: links.WorkspaceIndex, path: str, overlays: Mapping[str, str]
    ) -> model.FileScan:
        text = overlays.get(path)
        if text is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                text = ""
        if HANG_SCAN in text:
            time.sleep(3600)
        return scan(self, path, overlays)

    links.WorkspaceIndex.scan = hanging_scan  # type: ignore[method-assign]

    def failing_analyse(
        self: analysis.Session, path: str, version: Any, overlays: Mapping[str, str], *rest: Any
    ) -> analysis.DocumentAnalysis:
        if FAIL_ANALYSIS in overlays.get(path, ""):
            raise RuntimeError("injected failure in the analysis")
        if HANG_ANALYSIS in overlays.get(path, ""):
            time.sleep(3600)
        return analyse(self, path, version, overlays, *rest)

    analysis.Session.analyse = failing_analyse  # type: ignore[method-assign]


def guard_engine() -> None:
    """In the server process only: every way into the engine raises."""
    from ckptlens.engine.interp.interpreter import Interpreter
    from ckptlens.engine.predict import Analyzer
    from ckptlens.lsp.analysis import Session

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(ENGINE_IN_SERVER)

    for cls in (Interpreter, Analyzer, Session):
        cls.__init__ = refuse  # type: ignore[method-assign,assignment]


def main() -> None:
    from ckptlens.lsp import analysis, server

    diagnostics = server.CkptlensServer.diagnostics

    def failing_diagnostics(
        self: server.CkptlensServer, uri: str, result: analysis.DocumentAnalysis
    ) -> Any:
        doc = self.workspace.text_documents.get(uri)
        if doc is not None and FAIL_HANDLER in doc.source:
            raise RuntimeError("injected failure in the diagnostics handler")
        return diagnostics(self, uri, result)

    if NO_ENGINE_IN_SERVER in sys.argv[1:]:
        guard_engine()
    server.CkptlensServer.worker_setup = "lsp_failing_server:patch_analysis"
    server.CkptlensServer.diagnostics = failing_diagnostics  # type: ignore[method-assign]
    server.run_stdio()


if __name__ == "__main__":
    main()
