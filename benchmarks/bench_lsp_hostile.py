"""Responsiveness of `ckptlens lsp` while a hostile document is analysed (issue 13, item 3).

    python benchmarks/bench_lsp_hostile.py [--lines 40000] [--timeout-ms 20000] [--mib 49]
        [--json rows.json] [--only TEXT]

Starts the server over stdio with a VS Code-like client, opens a small model `net.py` linked to
a checkpoint and waits for its diagnostics, then:

* slow: opens a model whose `__init__` builds `--lines` layers (the engine takes tens of
  seconds over it) and, until that document's diagnostics arrive (the worker is killed at
  `--timeout-ms`: one `analysis-stopped` diagnostic), sends hovers on `net.py` one after the
  other, reporting their latency (count, p50, p95, max) and when the slow document was stopped;
* huge: opens a `--mib` MiB document (over `ckptlens.maxDocumentSize`: not analysed) and sends
  hovers on `net.py` until its `document-too-large` diagnostic arrives (the first hover waits
  for the server to read the 49 MiB message itself);
* checkpoint: opens a document linked to each of the worst checkpoints of
  `bench_hostile.py` (read by the server's reader process) and hovers until its diagnostics
  arrive;
* then the peak RSS of the server process (VmHWM) and of the processes below it still alive
  (the forkserver, the current analysis worker and checkpoint reader; killed ones are gone).

Every hover must carry `net.py`'s check and its size (the size lens is computed by the worker
beforehand: a hover never waits on it).

Target: every hover on the other document answered within 200 ms while the hostile one is
being analysed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_hostile as bh  # noqa: E402 - the CLI benchmark's worst inputs

HOVER_TARGET_MS = 200.0
# The worst checkpoints of bench_hostile.py that a document can link to (read by the server).
CHECKPOINTS = {
    "85,000 tensors (accepted)": bh.many_tensors,
    "10 MiB safetensors header": bh.safetensors_huge_header,
    "3.3 M memoised dicts": bh.memo_dicts,
    "bytearray(blob) x 6,000": bh.bytearray_copies,
    "4.9 M appended lists": bh.list_flood,
    "stride-0, 12,000 huge dims": bh.stride0_dims,
    "20,000 8,000-bit ints": bh.big_ints,
}

NET = """import torch.nn as nn


# ckptlens: checkpoint=net.pt
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)
"""


def slow_source(lines: int) -> str:
    body = "".join(f"        self.l{i} = nn.Linear(8, 8)\n" for i in range(lines))
    return (
        "import torch.nn as nn\n\n\n# ckptlens: checkpoint=net.pt\nclass Slow(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n" + body
    )


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Every process below `pid` (the analysis worker and the reader are forked by the
    forkserver, a child of the server)."""
    try:
        out: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return []
    return out + [g for c in out for g in children(c)]


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{len(ms)} hovers: p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {max(ms):6.1f} ms"
    )


async def run(
    root: Path, lines: int, timeout_ms: int, mib: int, json_out: Path | None, only: str | None
) -> None:
    import torch

    (root / "net.py").write_text(NET)
    torch.save(
        {
            "body.weight": torch.zeros(8, 8),
            "body.bias": torch.zeros(8),
            "head.weight": torch.zeros(3, 8),
            "head.bias": torch.zeros(3),
        },
        root / "net.pt",
    )
    client = LanguageClient("bench", "1")
    arrived: dict[str, float] = {}
    codes: dict[str, list[str]] = {}
    published = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        arrived.setdefault(params.uri, time.perf_counter())
        counts: dict[str, int] = {}
        for d in params.diagnostics:
            counts[str(d.code)] = counts.get(str(d.code), 0) + 1
        codes[params.uri] = [f"{c} x{n}" if n > 1 else c for c, n in counts.items()]
        published.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        print("server:", params.message[:200], file=sys.stderr)

    await client.start_io(sys.executable, "-m", "ckptlens", "lsp")
    root_uri = from_fs_path(str(root))
    settings = {"ckptlens": {"analysisTimeoutMs": timeout_ms, "debounceMs": 0}}
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=root_uri,
            workspace_folders=[types.WorkspaceFolder(root_uri, "bench")],
            initialization_options=settings,
        )
    )
    client.initialized(types.InitializedParams())

    def open_doc(name: str, text: str) -> str:
        uri = from_fs_path(str(root / name))
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri

    async def wait_published(uri: str) -> None:
        while uri not in arrived:
            published.clear()
            await asyncio.wait_for(published.wait(), 300)

    net = open_doc("net.py", NET)
    await wait_published(net)
    print(f"net.py: {codes[net]}")

    slowest = [0.0, 0.0]  # the slowest hover: latency, when (s after the hostile didOpen)

    async def hovers_until(uri: str) -> list[float]:
        latencies = []
        opened = time.perf_counter()
        slowest[:] = [0.0, 0.0]
        while uri not in arrived:
            start = time.perf_counter()
            answer = await client.text_document_hover_async(
                types.HoverParams(types.TextDocumentIdentifier(net), types.Position(4, 7))
            )
            latencies.append((time.perf_counter() - start) * 1000)
            if latencies[-1] > slowest[0]:
                slowest[:] = [latencies[-1], start - opened]
            assert answer is not None and isinstance(answer.contents, types.MarkupContent)
            assert "**`Net`**" in answer.contents.value and " params · " in answer.contents.value, (
                "the hover on net.py lacks its check or its size"
            )
        return latencies

    async def family(name: str, document: str, text: str) -> None:
        """Open the hostile `document` and hover on net.py until its diagnostics arrive."""
        if only and only not in name:
            return
        start = time.perf_counter()
        uri = open_doc(document, text)
        latencies = await hovers_until(uri)
        took = arrived[uri] - start
        within = max(latencies) <= HOVER_TARGET_MS
        rows.append({"family": name, "codes": codes[uri], "seconds": round(took, 2), "hovers": len(latencies),
                     "p50_ms": round(statistics.median(latencies), 1), "max_ms": round(max(latencies), 1),
                     "slowest_sent_s": round(slowest[1], 2), "within": within})  # fmt: skip
        print(
            f"{name:34s} {', '.join(codes[uri]) or 'clean':38s} after {took:6.2f} s; meanwhile "
            f"{summary(latencies)} (slowest sent at {slowest[1]:.2f} s) {'ok' if within else 'OVER'}",
            flush=True,
        )

    rows: list[dict[str, object]] = []
    text = slow_source(lines)
    await family(f"engine: {lines:,}-line __init__", "slow.py", text)
    await family(f"document: {mib} MiB didOpen", "huge.py", "x = 1\n" * (mib * 1024 * 1024 // 6))
    for i, (name, build) in enumerate(CHECKPOINTS.items()):
        folder = root / f"ckpt{i}"
        folder.mkdir()
        if only and only not in f"checkpoint: {name}":
            continue
        path = build(folder)
        source = NET.replace("checkpoint=net.pt", f"checkpoint={path}").replace("class Net", f"class Net{i}")
        await family(f"checkpoint: {name}", f"linked{i}.py", source)
    server = client._server  # noqa: SLF001 - its pid, for /proc
    if server is not None:
        pid = server.pid
        rss = peak_rss_mb(pid)
        below = [peak_rss_mb(c) for c in children(pid)]
        shown = ", ".join(f"{r:.0f} MB" for r in below if r is not None) or "none"
        print(f"peak RSS: server {rss:.0f} MB; the processes below it (alive now) {shown}")
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=2) + "\n")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--timeout-ms", type=int, default=20_000)
    parser.add_argument("--mib", type=int, default=49)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    parser.add_argument("--only", default=None, help="the families whose name has this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ckptlens-bench-") as tmp:
        asyncio.run(run(Path(tmp), args.lines, args.timeout_ms, args.mib, args.json, args.only))


if __name__ == "__main__":
    main()
