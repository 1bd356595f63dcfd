"""Checkpoints read for the documents' analyses: each in a reader process (`ckptlens.lsp.worker`),
under the time cap, cached by path and stamp; one read shared by every analysis waiting for it;
$/progress when a read takes longer than `ckptlens.progressAfterMs`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Awaitable, Iterable
from typing import Any

from lsprotocol import types

from ckptlens.checkpoint.index import CheckpointIndex
from ckptlens.lsp.checkpoints import checkpoint_stamp
from ckptlens.lsp.state import ServerState


class CheckpointReads(ServerState):
    """Checkpoint indexes for the analyses: cached, read once, in reader processes."""

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
