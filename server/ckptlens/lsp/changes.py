"""Changes outside the documents that re-check them: watched files (checkpoints, pyproject.toml,
Python files), workspace folders, and the checkpoints no client watcher reports, which are
polled (a stat each second; one whose stamp changed and then held still for a poll is read
again). Settings are in `server.py` with the rest of the lifecycle.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lsprotocol import types

from ckptlens.lsp import convert
from ckptlens.lsp.checkpoints import checkpoint_stamp
from ckptlens.lsp.documents import DocumentAnalyses

# Checkpoints no client watcher reports (outside the workspace folders, or every one when the
# client cannot watch files) are polled: a stat each this often, re-read once a change settles.
POLL_SECONDS = 1.0


class WorkspaceChanges(DocumentAnalyses):
    """What changes outside the open documents, and the re-checks it starts."""

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
