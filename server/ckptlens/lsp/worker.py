"""The language server's analysis process: a `Session` behind a pipe, killed when it overruns.

The server's event loop never runs the engine: every analysis (plan, check, code actions, the
size lenses and fit hints, finding checkpoints for a class) is a request to one worker process
per workspace, which owns the `Session` and its content-keyed
caches. Each request has a wall-clock cap that is enforced from outside: a worker that has
not answered in time is killed (SIGKILL, not asked) and the next request starts a fresh one.
The same happens when the worker dies on its own (out of memory, a crash).

Everything crossing the pipe is plain picklable data: the frozen results of `analysis.py`,
checkpoint indexes, and the unsaved buffers (sent as changes against what the worker has).
Checkpoint indexes are sent once per (path, stamp); the worker keeps the last few.

On POSIX, workers are forked from a `forkserver` that has the engine imported already, so a
restart after a kill costs a fork (milliseconds), not a Python start-up.
"""

from __future__ import annotations

import array
import gc
import importlib
import io
import multiprocessing
import os
import pickle
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from ckptlens.checkpoint.index import CheckpointIndex, TensorInfo
from ckptlens.lsp.analysis import Session, SessionOptions
from ckptlens.lsp.results import DocumentAnalysis
from ckptlens.lsp.sizes import Extras, find_for_class, write_for_class

INDEX_CACHE = 32
BIG_MESSAGE = 1 << 20  # bytes: larger replies are unpickled in Python (see `_receive`)
ANALYSED_CACHE = 64  # files whose last analysis' predictions the worker keeps for the extras


class WorkerError(Exception):
    """The worker raised: `kind` is the exception's class name there, `details` its traceback."""

    def __init__(self, kind: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


class AnalysisStopped(Exception):
    """The worker was killed (it overran its time) or died; `reason` says which, in words;
    `culprit` is the file it was scanning or checking then, if it said."""

    def __init__(self, reason: str, culprit: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.culprit = culprit


class _Missing(Exception):
    def __init__(self, keys: list[tuple[str, Any]]) -> None:
        super().__init__("missing checkpoint indexes")
        self.keys = keys


# -- the worker process ------------------------------------------------------------------------


def worker_main(
    conn: Connection,
    roots: list[str],
    options: SessionOptions,
    setup: str | None,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Serve requests from `conn` until it closes. Runs in the worker process."""
    if setup:
        module, _, name = setup.partition(":")
        getattr(importlib.import_module(module), name)()
    session = Session(roots, options)
    session.skip = skip
    last = [""]

    def progress(path: str) -> None:
        if path != last[0]:
            last[0] = path
            conn.send(("at", path))

    session.progress = progress
    overlays: dict[str, str] = {}
    indexes: OrderedDict[tuple[str, Any], Any] = OrderedDict()

    def source_of(path: str) -> str | None:
        if path in overlays:
            return overlays[path]
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError):
            return None

    def analyse(
        path: str,
        version: int | None,
        planned: Any,
        wanted: Mapping[str, tuple[Any, Any]],
        generation: int,
    ) -> Any:
        found: dict[str, Any] = {}
        missing = []
        for ckpt, (stamp, index) in wanted.items():
            key = (ckpt, stamp)
            if index is not None:
                indexes[key] = unpack_index(index)
            if key in indexes:
                indexes.move_to_end(key)
                found[ckpt] = indexes[key]
            else:
                missing.append(key)
        while len(indexes) > INDEX_CACHE:
            indexes.popitem(last=False)
        if missing:
            raise _Missing(missing)
        stamps = {ckpt: stamp for ckpt, (stamp, _) in wanted.items()}
        progress(path)
        analysis = session.analyse(
            path, version, overlays, planned, found, None, stamps, generation
        )
        remember(analysis)
        return _strip_indexes(
            analysis, {id(found[p]): SentIndex(p, stamps[p]) for p in found}
        )

    def plan(path: str) -> Any:
        progress(path)
        return session.plan(path, overlays)

    def own(analysis: Any) -> DocumentAnalysis:
        """The analysis a request is about: the server names one this worker made by
        `AnalysisRef` (it is not sent back), or sends it with its indexes by reference."""
        if isinstance(analysis, AnalysisRef):
            kept = analysed.get(analysis.path)
            if kept is None or kept[0] != analysis.version:
                raise _Missing([])
            return kept[2]
        return _restore_indexes(analysis, lookup)

    def own_outcome(outcome: Any) -> Any:
        if isinstance(outcome, OutcomeRef):
            results = own(outcome.analysis).results
            if outcome.position >= len(results):
                raise _Missing([])
            return results[outcome.position]
        return _restore_outcome(outcome, lookup)

    def lookup(stand_in: SentIndex) -> Any:
        """An index the server refers to by (path, stamp) instead of sending it again."""
        key = (stand_in.path, stand_in.stamp)
        if key not in indexes:
            raise _Missing([key])
        indexes.move_to_end(key)
        return indexes[key]

    # issue 17's extras (size lenses, fit hints) run here too, from the predictions of the
    # last analysis of the file (its linked classes are sized with their links' arguments).
    extras = Extras()
    analysed: OrderedDict[str, tuple[int | None, dict[str, Any], DocumentAnalysis]] = OrderedDict()

    def remember(analysis: DocumentAnalysis) -> None:
        if analysis.stale:
            analysed.pop(analysis.path, None)
            return
        linked = {
            r.link.class_name: r.result.predicted
            for r in analysis.results
            if r.result is not None and r.link.class_file == analysis.path
        }
        analysed[analysis.path] = (analysis.version, linked, analysis)
        analysed.move_to_end(analysis.path)
        while len(analysed) > ANALYSED_CACHE:
            analysed.popitem(last=False)

    def editor_extras(
        path: str,
        version: int | None,
        linked: Mapping[str, Any] | None,
        names: list[str],
        sizes: bool,
        hints: bool,
        generation: int,
    ) -> tuple[list[Any], list[Any]]:
        """(size lenses, fit hints) of `path`; `linked` (class -> prediction) is sent only when
        this worker has not analysed that version itself."""
        if linked is None:
            kept = analysed.get(path)
            if kept is None or kept[0] != version:
                raise _Missing([])
            linked = kept[1]
        text = source_of(path)
        if text is None:
            return [], []
        progress(path)
        lenses = extras.size_lenses(session, path, text, linked) if sizes else []
        found = extras.fit_hints(session, path, text, names, generation) if hints else []
        return lenses, found

    operations: dict[str, Callable[..., Any]] = {
        "configure": session.configure,
        "set_roots": session.set_roots,
        "forget": session.forget,
        "invalidate": session.index.invalidate,
        "plan": plan,
        "analyse": analyse,
        "code_actions": lambda analysis, request, only: session.code_actions(
            own(analysis), request, source_of, only
        ),
        "mapping_action": lambda outcome: session.mapping_action(own_outcome(outcome), source_of),
        "extras": editor_extras,
        "find_checkpoints": lambda path, name: find_for_class(session, path, name),
        "write_fixed_checkpoint": lambda *args: write_for_class(session, *args),
        "skip": lambda paths: setattr(session, "skip", frozenset(paths)),
        "ping": lambda: os.getpid(),
    }
    while True:
        try:
            pending, delta, op, args = conn.recv()
        except (EOFError, OSError):
            return
        last[0] = ""
        try:
            for name, pending_args in pending:
                operations[name](*pending_args)
            for path, text in delta.items():
                if text is None:
                    overlays.pop(path, None)
                else:
                    overlays[path] = text
            session.sync(overlays)
            reply: tuple[Any, ...] = ("ok", operations[op](*args))
        except _Missing as exc:
            reply = ("missing", exc.keys)
        except Exception as exc:  # noqa: BLE001 - reported to the server, which logs it
            reply = ("error", type(exc).__name__, str(exc), traceback.format_exc(limit=8))
        log = [*session.problems, *session.log]
        session.log.clear()
        try:
            conn.send((*reply, log))
        except (EOFError, OSError):
            return


@dataclass(frozen=True)
class SentIndex:
    """Stands for a checkpoint index the other side has (the server sent it to the worker):
    an index crosses the pipe once per (path, stamp), never with every result or request."""

    path: str
    stamp: Any = None


@dataclass(frozen=True)
class AnalysisRef:
    """Stands for the analysis of (`path`, `version`) the worker made and keeps."""

    path: str
    version: int | None


@dataclass(frozen=True)
class OutcomeRef:
    """Stands for one link outcome of such an analysis (its position in `results`)."""

    analysis: AnalysisRef
    position: int


def _strip_indexes(analysis: DocumentAnalysis, known: Mapping[int, SentIndex]) -> DocumentAnalysis:
    """`known`: id of an index object -> what stands for it."""
    return replace(analysis, results=tuple(_strip_outcome(o, known) for o in analysis.results))


def _strip_outcome(outcome: Any, known: Mapping[int, SentIndex]) -> Any:
    stand_in = known.get(id(outcome.raw_index))
    if stand_in is None:
        return outcome
    result = outcome.result
    if result is not None and result.index is outcome.raw_index:
        result = replace(result, index=stand_in)
    return replace(outcome, raw_index=stand_in, result=result)


def _restore_indexes(
    analysis: DocumentAnalysis, lookup: Callable[[SentIndex], Any]
) -> DocumentAnalysis:
    return replace(analysis, results=tuple(_restore_outcome(o, lookup) for o in analysis.results))


def _restore_outcome(outcome: Any, lookup: Callable[[SentIndex], Any]) -> Any:
    if not isinstance(outcome.raw_index, SentIndex):
        return outcome
    index = lookup(outcome.raw_index)
    result = outcome.result
    if result is not None and isinstance(result.index, SentIndex):
        result = replace(result, index=index)
    return replace(outcome, raw_index=index, result=result)


# -- checkpoint indexes across the pipe -----------------------------------------------------------


@dataclass(frozen=True)
class PackedStrings:
    """Strings as one UTF-8 blob and their lengths: unpickled as two buffers (a copy), where
    a tuple of 160,000 strings is 160,000 objects built by one C call holding the GIL."""

    blob: bytes
    lengths: array.array


def pack_strings(strings: Sequence[str]) -> PackedStrings:
    encoded = [text.encode("utf-8", "surrogatepass") for text in strings]
    return PackedStrings(b"".join(encoded), array.array("Q", map(len, encoded)))


def unpack_strings(packed: PackedStrings) -> list[str]:
    out = []
    blob, at = packed.blob, 0
    for length in packed.lengths:  # a Python loop: other threads run between its steps
        out.append(blob[at : at + length].decode("utf-8", "surrogatepass"))
        at += length
    return out


@dataclass(frozen=True)
class PackedIndex:
    """A checkpoint index as a few flat buffers. Unpickling a `TensorInfo` per tensor costs a
    Python call each with the GIL held (0.5 s for 85,000 tensors, 2 s for 160,000: every hover
    of the server would wait); a few buffers unpickle in microseconds. They are turned back
    into objects by a Python loop, which lets the server's other threads run."""

    rest: CheckpointIndex  # the index without its tensors and entries
    keys: PackedStrings
    entries: PackedStrings
    ranks: array.array
    dims: array.array | tuple[int, ...]  # every shape, concatenated
    kinds: tuple[tuple[str, str], ...]  # the distinct (dtype, device) pairs
    kind_of: array.array  # per tensor, its index in `kinds`


def pack_index(value: Any) -> Any:
    """A `CheckpointIndex` packed for the pipe; anything else (a read error) as it is."""
    if not isinstance(value, CheckpointIndex):
        return value
    if not all(isinstance(k, str) for k in value.tensors) or not all(
        isinstance(e, str) for e in value.entries
    ):
        return value  # not what the reader makes; sent as it is
    tensors = value.tensors.values()
    kinds: dict[tuple[str, str], int] = {}
    kind_of = array.array("L", (kinds.setdefault((t.dtype, t.device), len(kinds)) for t in tensors))
    flat = [d for t in tensors for d in t.shape]
    dims: array.array | tuple[int, ...]
    try:
        dims = array.array("q", flat)
    except OverflowError:  # shapes are capped at int64 by the reader; never trust that here
        dims = tuple(flat)
    return PackedIndex(
        replace(value, tensors={}, entries=()),
        pack_strings(list(value.tensors)),
        pack_strings(value.entries),
        array.array("L", (len(t.shape) for t in tensors)),
        dims,
        tuple(kinds),
        kind_of,
    )


def unpack_index(value: Any) -> Any:
    if not isinstance(value, PackedIndex):
        return value
    tensors = {}
    at = 0
    dims, kinds = value.dims, value.kinds
    for key, rank, kind in zip(unpack_strings(value.keys), value.ranks, value.kind_of, strict=True):
        dtype, device = kinds[kind]
        tensors[key] = TensorInfo(tuple(dims[at : at + rank]), dtype, device)
        at += rank
    return replace(value.rest, tensors=tensors, entries=tuple(unpack_strings(value.entries)))


def read_index(path: str) -> CheckpointIndex | str:
    """A checkpoint's index, or the one-line reason it cannot be used (never raises)."""
    from ckptlens.checkpoint import CheckpointError, read_checkpoint

    try:
        return read_checkpoint(path)
    except CheckpointError as exc:
        return " ".join(str(exc).split()) or f"{path}: cannot read the checkpoint"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - a reader bug is one diagnostic, not a crash
        return f"{path}: cannot read the checkpoint (internal error: {' '.join(str(exc).split())})"


def reader_main(conn: Connection, setup: str | None) -> None:
    """The checkpoint reader's process: `read` requests until the pipe closes. Reading a
    hostile file (a 10 MiB safetensors header, millions of pickle objects) takes seconds of
    CPU and hundreds of MB; here it holds neither the server's GIL nor its memory."""
    if setup:
        module, _, name = setup.partition(":")
        getattr(importlib.import_module(module), name)()
    while True:
        try:
            _pending, _delta, op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = pack_index(read_index(*args)) if op == "read" else os.getpid()
            reply: tuple[Any, ...] = ("ok", result)
        except Exception as exc:  # noqa: BLE001
            reply = ("error", type(exc).__name__, str(exc), traceback.format_exc(limit=8))
        try:
            conn.send((*reply, []))
        except (EOFError, OSError):
            return


# -- the server's side -------------------------------------------------------------------------


def _context() -> Any:
    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ckptlens.lsp.worker"])
        return context
    return multiprocessing.get_context("spawn")


def prestart() -> None:
    """Start the forkserver now: it imports the engine while the server starts up and waits
    for `initialize`, so the first worker is a fork away when the first document opens."""
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class AnalysisWorker:
    """The server's handle on its worker process. `call` blocks: run it off the event loop,
    from one thread at a time (the server's analysis thread)."""

    def __init__(
        self, roots: list[str], options: SessionOptions, setup: str | None = None
    ) -> None:
        self.roots = list(roots)
        self.options = options
        self.setup = setup
        self.skip: frozenset[str] = frozenset()
        self.process: Any = None
        self.conn: Connection | None = None
        self.pending: list[tuple[str, tuple[Any, ...]]] = []  # applied before the next request
        self.sent: dict[str, str] = {}  # the unsaved buffers the worker has
        self.have: set[tuple[str, Any]] = set()  # the (checkpoint, stamp) indexes it was sent
        # id of an index object it was sent -> (the object, kept alive; what stands for it)
        self.known: dict[int, tuple[Any, SentIndex]] = {}
        self.lock = threading.Lock()
        self.starts = 0
        self.log: list[str] = []  # what the worker's Session reported; the server drains it

    NAME = "ckptlens-analysis"

    # -- process lifetime --

    def _target(self, child: Connection) -> tuple[Callable[..., None], tuple[Any, ...]]:
        return worker_main, (child, self.roots, self.options, self.setup, self.skip)

    def start(self) -> None:
        """Start the worker now (idempotent): the server does this at initialize, off the loop,
        so that the first didOpen does not pay for it."""
        with self.lock:
            self._ensure()

    def _ensure(self) -> Connection:
        if self.conn is not None and self.process is not None and self.process.is_alive():
            return self.conn
        self._stop()
        context = _context()
        parent, child = context.Pipe()
        target, args = self._target(child)
        process = context.Process(target=target, args=args, name=self.NAME, daemon=True)
        process.start()
        child.close()
        self.process, self.conn = process, parent
        self.pending.clear()  # a fresh Session has the current roots and options
        self.sent = {}
        self.have = set()
        self.known = {}
        self.starts += 1
        return parent

    def _stop(self) -> None:
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
            try:
                self.process.close()
            except ValueError:
                pass
        if self.conn is not None:
            self.conn.close()
        self.process = self.conn = None

    def close(self) -> None:
        with self.lock:
            self._stop()

    def kill(self) -> None:
        """Kill the worker now, without waiting for a request in flight (that one then fails
        with `AnalysisStopped`): for shutting down."""
        process = self.process
        if process is not None:
            try:
                process.kill()
            except (ValueError, OSError):
                pass

    # -- state every request carries --

    def configure(self, options: SessionOptions) -> None:
        self.options = options
        self.pending.append(("configure", (options,)))

    def set_roots(self, roots: list[str]) -> None:
        self.roots = list(roots)
        self.pending.append(("set_roots", (list(roots),)))

    def set_skip(self, paths: frozenset[str]) -> None:
        self.skip = frozenset(paths)
        self.pending.append(("skip", (self.skip,)))

    def forget(self) -> None:
        self.pending.append(("forget", ()))

    def invalidate(self, path: str) -> None:
        self.pending.append(("invalidate", (path,)))

    # -- requests --

    def call(
        self, op: str, args: tuple[Any, ...], overlays: Mapping[str, str], timeout: float
    ) -> Any:
        """Run `op` in the worker with these unsaved buffers; raise `WorkerError` if it raised,
        `AnalysisStopped` if it did not answer within `timeout` seconds (it is killed) or died."""
        with self.lock:
            conn = self._ensure()
            delta: dict[str, str | None] = {
                p: t for p, t in overlays.items() if self.sent.get(p) is not t and self.sent.get(p) != t
            }
            delta.update({p: None for p in self.sent if p not in overlays})
            pending, self.pending = self.pending, []
            at: str | None = None
            deadline = time.monotonic() + timeout
            try:
                conn.send((pending, delta, op, args))
                while True:
                    if not conn.poll(max(0.0, deadline - time.monotonic())):
                        self._stop()
                        raise AnalysisStopped(f"it took longer than {_seconds(timeout)}", at)
                    reply = _receive(conn)
                    if reply[0] != "at":
                        break
                    at = reply[1]
            except (EOFError, OSError) as exc:
                if self.process is not None:
                    self.process.join(1)
                code = self.process.exitcode if self.process is not None else None
                self._stop()
                raise AnalysisStopped(_death(code), at) from exc
            self.sent = dict(overlays)
            status, *rest, log = reply
            self.log.extend(log)
            if status == "ok":
                return rest[0]
            if status == "missing":
                raise _Missing(rest[0])
            kind, message, details = rest
            raise WorkerError(kind, message, details)

    def analyse(
        self,
        path: str,
        version: int | None,
        planned: Any,
        indexes: Mapping[str, tuple[Any, Any]],
        generation: int,
        overlays: Mapping[str, str],
        timeout: float,
    ) -> Any:
        """`indexes`: checkpoint path -> (stamp, index or read error). Indexes this worker was
        sent before travel as keys only (it asks again for any it has let go)."""
        wanted = {
            p: (s, None if (p, s) in self.have else pack_index(i)) for p, (s, i) in indexes.items()
        }
        args = (path, version, planned, wanted, generation)
        try:
            result = self.call("analyse", args, overlays, timeout)
        except _Missing:
            every = {p: (s, pack_index(i)) for p, (s, i) in indexes.items()}
            result = self.call("analyse", (path, version, planned, every, generation), overlays, timeout)
        self.have.update((p, s) for p, (s, _) in indexes.items())
        if len(self.known) > 4 * INDEX_CACHE:
            self.known.clear()
        for p, (s, i) in indexes.items():
            if isinstance(i, CheckpointIndex):
                self.known[id(i)] = (i, SentIndex(p, s))
        by_path = {p: i for p, (_, i) in indexes.items()}
        return _restore_indexes(result, lambda stand_in: by_path[stand_in.path])

    def _outbound(self) -> dict[int, SentIndex]:
        """The indexes an analysis sent back to the worker may stand in for."""
        return {
            key: stand_in
            for key, (_, stand_in) in self.known.items()
            if (stand_in.path, stand_in.stamp) in self.have
        }

    def code_actions(
        self, analysis: DocumentAnalysis, request: Any, only: Any, overlays: Mapping[str, str], timeout: float
    ) -> Any:
        """The worker's code actions for `analysis` (which it is asked to have kept: a large
        analysis is megabytes of pickling), else sent with its indexes by reference, else whole."""
        attempts: list[Any] = [lambda: _strip_indexes(analysis, self._outbound()), lambda: analysis]
        if _is_fresh(analysis):
            attempts.insert(0, AnalysisRef(analysis.path, analysis.version))
        for sent in attempts:
            try:
                value = sent() if callable(sent) else sent
                return self.call("code_actions", (value, request, only), overlays, timeout)
            except _Missing:
                continue
        return []

    def mapping_action(
        self, analysis: DocumentAnalysis, outcome: Any, overlays: Mapping[str, str], timeout: float
    ) -> Any:
        """`outcome` is one of `analysis.results`: named by its position when the worker kept
        that analysis."""
        position = next((i for i, o in enumerate(analysis.results) if o is outcome), None)
        attempts: list[Callable[[], Any]] = [
            lambda: _strip_outcome(outcome, self._outbound()),
            lambda: outcome,
        ]
        if position is not None and _is_fresh(analysis):
            ref = OutcomeRef(AnalysisRef(analysis.path, analysis.version), position)
            attempts.insert(0, lambda: ref)
        for attempt in attempts:
            try:
                return self.call("mapping_action", (attempt(),), overlays, timeout)
            except _Missing:
                continue
        return None


    def extras(
        self,
        analysis: DocumentAnalysis,
        sizes: bool,
        hints: bool,
        generation: int,
        overlays: Mapping[str, str],
        timeout: float,
    ) -> tuple[list[Any], list[Any]]:
        """The size lenses and fit hints of `analysis`'s file. The predictions of its linked
        classes travel only if the worker no longer has them (it was restarted meanwhile)."""
        linked = {
            r.link.class_name: r.result.predicted
            for r in analysis.results
            if r.result is not None and r.link.class_file == analysis.path
        }
        names = sorted({r.link.class_name for r in analysis.results if r.link.class_file == analysis.path})
        rest = (names, sizes, hints, generation)
        try:
            return self.call("extras", (analysis.path, analysis.version, None, *rest), overlays, timeout)
        except _Missing:
            args = (analysis.path, analysis.version, linked, *rest)
            return self.call("extras", args, overlays, timeout)


class CheckpointReader(AnalysisWorker):
    """The server's handle on its checkpoint reader process (killed when a read overruns)."""

    NAME = "ckptlens-reader"

    def __init__(self, setup: str | None = None) -> None:
        super().__init__([], SessionOptions(), setup)

    def _target(self, child: Connection) -> tuple[Callable[..., None], tuple[Any, ...]]:
        return reader_main, (child, self.setup)

    def read(self, path: str, timeout: float) -> CheckpointIndex | str:
        """The index of `path`, or the one-line reason it cannot be used (never raises)."""
        try:
            return unpack_index(self.call("read", (path,), {}, timeout))
        except AnalysisStopped as exc:
            return f"{path}: ckptlens stopped reading it: {exc.reason}"
        except WorkerError as exc:
            return f"{path}: cannot read the checkpoint (internal error: {' '.join(str(exc).split())})"


def _is_fresh(analysis: DocumentAnalysis) -> bool:
    """Made by the worker for its version as it is (not the last good one kept for it)."""
    return not analysis.stale and analysis.failure is None and analysis.halted is None


def _receive(conn: Connection) -> Any:
    """The next message. A large one (the analysis of a 40,000-line file is 17 MB) is unpickled
    by the pure-Python unpickler: about twice as slow as the C one, but the C one holds the GIL
    for up to seconds at a time there, and every hover of the server would wait."""
    data = conn.recv_bytes()
    if len(data) <= BIG_MESSAGE:
        return pickle.loads(data)
    # The million objects it makes would also trigger full collections, each a pause of its
    # own; they are set aside for the collector instead (they are acyclic: freed by reference
    # counting all the same when the next analysis replaces them).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle._Unpickler(io.BytesIO(data)).load()
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _seconds(timeout: float) -> str:
    return f"{timeout:g} s" if timeout >= 1 else f"{round(timeout * 1000)} ms"


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the analysis process was killed by {name}{hint}"
    if code is not None:
        return f"the analysis process exited with status {code}"
    return "the analysis process stopped answering"
