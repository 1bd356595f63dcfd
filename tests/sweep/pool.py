"""Run sweeps in worker processes, each model with a timeout.

A worker (`python tests/sweep/pool.py`) reads one JSON task per line on stdin and answers with
JSON lines: `{"stage": "predict"}` once the ground truth is ready, then `{"result": {...}}`.
A worker that overruns its timeout is killed (by its own pid) and replaced; the model is
recorded as an `error` (timeout while predicting) or `no-truth` (timeout while torch built it).

ckptlens is imported from the worker's `sys.path`: set `PYTHONPATH=<worktree>/server` to sweep
another checkout. torchvision's meta registrations are stubbed in the worker before any import.
"""

from __future__ import annotations

import functools
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from sweep.classify import DETAIL, classify  # noqa: E402
from sweep.targets import (  # noqa: E402
    cached_truth,
    stub_torchvision_meta_registrations,
    target_and_builder,
)

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# worker side


def _short(path: str) -> str:
    marker = "site-packages" + os.sep
    return path.split(marker, 1)[1] if marker in path else path


def cli_command() -> list[str]:
    """The installed `ckptlens` script beside this interpreter, else `python -m ckptlens`."""
    script = Path(sys.executable).with_name("ckptlens")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ckptlens"]


@functools.lru_cache(maxsize=1)
def _no_result_cache() -> list[str]:
    """`--no-cache` when the ckptlens timed has a result cache: every call is analysed (a sweep
    run twice would otherwise time answers read back from disk); the parse indexes stay on."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    shown = subprocess.run([*cli_command(), "keys", "--help"], capture_output=True, text=True, env=env)
    return ["--no-cache"] if "--no-cache" in shown.stdout else []


def run_cli(target: Any) -> tuple[float, int, dict[str, Any] | None, str]:
    """`ckptlens keys SOURCE --class NAME --format json` as a user runs it: wall time (start-up
    included), exit code, the JSON, stderr's last line."""
    args = [*cli_command(), "keys", target.source, "--class", target.class_name, "--format", "json"]
    args += _no_result_cache()
    for key, value in target.init.items():
        args += ["--init", f"{key}={value!r}"]
    config_file = None
    if target.config is not None:
        fd, config_file = tempfile.mkstemp(suffix=".json", prefix="ckptlens-sweep-")
        with os.fdopen(fd, "w") as handle:
            json.dump(target.config, handle)
        args += ["--config", config_file]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    try:
        start = time.perf_counter()
        run = subprocess.run(args, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
    finally:
        if config_file:
            os.unlink(config_file)
    try:
        data = json.loads(run.stdout) if run.returncode == 0 else None
    except ValueError:
        data = None
    return seconds, run.returncode, data, (run.stderr.strip().splitlines() or [""])[-1]


_LAST_RAISE: list[str] = []


def trace_raises() -> None:
    """Diagnostics only: remember the last `raise` statement the interpreter executes, so that
    "constructing X raises an exception" can say where (the engine does not, today)."""
    import ast

    try:
        from ckptlens.engine.interp.interpreter import Interpreter
    except ImportError:
        return
    original = getattr(Interpreter, "_exec", None)
    if original is None:
        return

    def _exec(self: Any, stmt: Any, frame: Any) -> None:
        if isinstance(stmt, ast.Raise):
            try:
                path = _short(str(frame.scope.source.path))
                _LAST_RAISE[:] = [f"{path}:{stmt.lineno}: {ast.unparse(stmt)[:160]}"]
            except Exception:  # noqa: BLE001 - diagnostics must not change the analysis
                pass
        original(self, stmt, frame)

    Interpreter._exec = _exec


def check_clean(target: Any, truth: Any, analyzer: Any) -> Record:
    """`check` of torch's own state_dict (a header-only safetensors file): the mismatch findings
    (there must be none) and the time the call took."""
    from ckptlens.api import check
    from ckptlens.findings import MISMATCH_CODES
    from sweep.checkpoints import write_sparse_safetensors

    out: Record = {}
    with tempfile.TemporaryDirectory(prefix="ckptlens-sweep-") as tmp:
        path = Path(tmp) / "model.safetensors"
        write_sparse_safetensors(path, truth.tensors)
        start = time.perf_counter()
        try:
            result = check(target.source, target.class_name, path, init=target.init, config=target.config,
                           analyzer=analyzer)
        except Exception as exc:  # noqa: BLE001
            return {"clean_error": f"{type(exc).__name__}: {exc}"[:500]}
        out["clean_seconds"] = time.perf_counter() - start
    out["clean"] = [
        {"code": f.code, "message": f.message[:300], "keys": list(f.model_keys or f.checkpoint_keys)[:DETAIL]}
        for f in result.findings if f.code in MISMATCH_CODES
    ]
    return out


def sweep_one(library: str, name: str, *, analyzer: Any, cli: bool = False, clean: bool = False,
              progress: Callable[[dict[str, Any]], None] | None = None) -> Record:
    """Ground truth, prediction, classification of one architecture."""
    from ckptlens.api import predict
    from ckptlens.findings import MISMATCH_CODES

    record: Record = {"library": library, "name": name}
    cpu = time.process_time()
    try:
        target, builder = target_and_builder(library, name)
        record["file"] = _short(target.source)
        record["class_name"] = target.class_name
        if target.init:
            record["init"] = target.init
        truth = cached_truth(library, name, builder)
    except Exception as exc:  # noqa: BLE001 - torch cannot build it: nothing to compare with
        record.update({"class": "no-truth", "error": f"{type(exc).__name__}: {exc}"[:500]})
        return record
    record["truth_how"] = truth.how
    if progress is not None:
        progress({"stage": "predict", "truth_keys": len(truth.tensors)})
    _LAST_RAISE.clear()
    start = time.perf_counter()
    try:
        predicted = predict(target.source, target.class_name, init=target.init, config=target.config,
                            analyzer=analyzer)
    except Exception as exc:  # noqa: BLE001 - ckptlens raised: that is the finding
        record.update({
            "class": "error", "seconds": time.perf_counter() - start, "truth_keys": len(truth.tensors),
            "correct": 0, "coverage": 0.0,
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "traceback": traceback.format_exc().splitlines()[-6:],
        })
        return record
    record["seconds"] = time.perf_counter() - start
    shapes = {k: (None if t.shape is None else list(t.shape)) for k, t in predicted.tensors.items()}
    unknown = [(p.prefix, p.reason) for p in predicted.unknown]
    opened = [(p.prefix, p.reason) for p in getattr(predicted, "open", [])]  # engines since 7a7cb07
    record.update(classify(truth.tensors, shapes, [p for p, _ in unknown], [p for p, _ in opened]))
    if opened:
        record["open"] = [list(u) for u in opened[:DETAIL]]
        record["n_open"] = len(opened)
    if unknown:
        record["unknown"] = [list(u) for u in unknown[:DETAIL]]
        record["n_unknown"] = len(unknown)
        if _LAST_RAISE and any("raise" in reason for _, reason in unknown):
            record["last_raise"] = _LAST_RAISE[0]
    info = [f for f in predicted.findings if f.code not in MISMATCH_CODES]
    if info:
        record["info"] = [
            {"code": f.code, "message": f.message[:400], "at": f"{_short(f.range.file)}:{f.range.start_line}"}
            for f in info[:DETAIL]
        ]
    dtypes = {k: d for k, _, d in truth.tensors}
    differ = [k for k, t in predicted.tensors.items() if k in dtypes and t.dtype != dtypes[k]]
    if differ:
        record["dtype_differs"] = {"n": len(differ), "first": [[k, predicted.tensors[k].dtype, dtypes[k]] for k in differ[:DETAIL]]}
    if clean:
        record.update(check_clean(target, truth, analyzer))
    record["cpu_seconds"] = time.process_time() - cpu  # truth (when not cached) + predict (+ check)
    if cli:
        seconds, code, data, last = run_cli(target)
        record["cli_seconds"] = seconds
        record["cli_exit"] = code
        if data is None:
            record["cli_error"] = last[:300]
        elif list(data.get("keys", {})) != list(shapes):
            record["cli_differs"] = True
    return record


def worker_main() -> None:
    stub_torchvision_meta_registrations()
    from ckptlens.api import Analyzer

    fresh = os.environ.get("CKPTLENS_SWEEP_FRESH") == "1"
    trace_raises()
    cap = os.environ.get("CKPTLENS_SWEEP_MAX_SECONDS")
    if cap:
        # the engine's wall-clock cap per analysis: raised, the result no longer depends on how
        # loaded the machine is (a model near the cap is wrong on one run, unknown on the next)
        from ckptlens.engine.interp import interpreter

        if hasattr(interpreter, "MAX_SECONDS"):
            interpreter.MAX_SECONDS = float(cap)
    shared = Analyzer()
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    sys.stdout = sys.stderr  # library chatter must not reach the protocol
    for line in sys.stdin:
        task = json.loads(line)
        analyzer = Analyzer() if fresh else shared
        try:
            result = sweep_one(task["library"], task["name"], analyzer=analyzer, cli=task.get("cli", False),
                               clean=task.get("clean", False),
                               progress=emit)
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            result = {"library": task["library"], "name": task["name"], "class": "error",
                      "error": f"harness: {type(exc).__name__}: {exc}"[:500]}
        emit({"result": result})


# ---------------------------------------------------------------------------------------------
# parent side


class _Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
            )
        self.buffer = b""
        self.task: dict[str, Any] | None = None
        self.deadline = 0.0
        self.stage = "truth"
        self.truth_keys = 0
        self.done = 0

    def send(self, task: dict[str, Any], timeout: float) -> None:
        self.task, self.stage, self.truth_keys = task, "truth", 0
        self.deadline = time.monotonic() + timeout
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(task) + "\n").encode())
        self.proc.stdin.flush()

    def lines(self) -> list[dict[str, Any]]:
        assert self.proc.stdout is not None
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise EOFError
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [json.loads(c) for c in complete if c.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_sweep(
    tasks: Iterable[tuple[str, str]],
    *,
    processes: int = 1,
    timeout: float = 240.0,
    cli: bool = False,
    cli_every: int = 1,
    clean: bool = False,
    fresh: bool = False,
    max_seconds: float | None = None,
    recycle: int = 150,
    on_result: Callable[[Record], None] | None = None,
) -> dict[tuple[str, str], Record]:
    """Sweep `(library, name)` tasks with at most `processes` workers; a worker is replaced after
    `recycle` models (the parse caches grow) or when it overruns `timeout` on one model."""
    pending = [{"library": lib, "name": name, "cli": cli and i % cli_every == 0, "clean": clean}
               for i, (lib, name) in enumerate(tasks)]
    pending.reverse()
    env = dict(os.environ)
    if fresh:
        env["CKPTLENS_SWEEP_FRESH"] = "1"
    if max_seconds is not None:
        env["CKPTLENS_SWEEP_MAX_SECONDS"] = str(max_seconds)
    logdir = Path(tempfile.mkdtemp(prefix="ckptlens-sweep-logs-"))
    results: dict[tuple[str, str], Record] = {}
    workers: list[_Worker] = []

    def finish(worker: _Worker, record: Record) -> None:
        assert worker.task is not None
        results[(worker.task["library"], worker.task["name"])] = record
        worker.task = None
        worker.done += 1
        if on_result is not None:
            on_result(record)

    try:
        while pending or any(w.task for w in workers):
            # keep every worker busy
            for i in range(processes):
                if i >= len(workers):
                    workers.append(_Worker(env, logdir / f"worker{i}.log"))
                worker = workers[i]
                if worker.task is None and worker.done >= recycle:
                    worker.kill()
                    workers[i] = worker = _Worker(env, worker.log)
                if worker.task is None and pending:
                    worker.send(pending.pop(), timeout)
            busy = [w for w in workers if w.task]
            if not busy:
                break
            now = time.monotonic()
            wait = max(0.0, min(w.deadline for w in busy) - now)
            assert all(w.proc.stdout is not None for w in busy)
            ready, _, _ = select.select([w.proc.stdout for w in busy], [], [], wait)
            for worker in busy:
                task = worker.task
                assert task is not None
                if worker.proc.stdout in ready:
                    try:
                        messages = worker.lines()
                    except (EOFError, ValueError) as exc:
                        worker.kill()
                        finish(worker, {"library": task["library"], "name": task["name"], "class": "error",
                                        "error": f"worker died ({type(exc).__name__}) while {worker.stage}; "
                                                 f"log: {worker.log}"})
                        workers[workers.index(worker)] = _Worker(env, worker.log)
                        continue
                    for message in messages:
                        if "stage" in message:
                            worker.stage = message["stage"]
                            worker.truth_keys = message.get("truth_keys", 0)
                        elif "result" in message:
                            finish(worker, message["result"])
                elif time.monotonic() >= worker.deadline:
                    worker.kill()
                    cls = "error" if worker.stage == "predict" else "no-truth"
                    finish(worker, {"library": task["library"], "name": task["name"], "class": cls,
                                    "error": f"timeout after {timeout:.0f} s while "
                                             f"{'predicting' if cls == 'error' else 'building the ground truth'}",
                                    "seconds": timeout if cls == "error" else None,
                                    "truth_keys": worker.truth_keys, "correct": 0, "coverage": 0.0})
                    workers[workers.index(worker)] = _Worker(env, worker.log)
    finally:
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
            worker.kill()
    return results


if __name__ == "__main__":
    worker_main()
