"""Latency of `ckptlens lsp` on a ~1,000-line model file (run by hand: needs torch).

    python benchmarks/bench_lsp.py [--edits 200] [--keep DIR]

Generates a workspace with `big_model.py` (many small block classes and one big class linked to
a checkpoint by a directive comment) and its checkpoint, starts the server over stdio with a
VS Code-like client (pushed diagnostics) and measures:

* cold: didOpen -> publishDiagnostics, the checkpoint not yet indexed;
* warm: didChange -> publishDiagnostics (for that version) over N edits, p50 / p95 / max.

Targets: warm p95 < 100 ms, cold < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

BLOCK = '''

class Block{i}(nn.Module):
    """A residual block ({i})."""

    def __init__(self, channels: int = {c}, expansion: int = 2):
        super().__init__()
        hidden = channels * expansion
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(x + self.bn2(self.conv2(y)))
'''

BIG_HEAD = '''

# ckptlens: checkpoint=big.pt
class BigNet(nn.Module):
    """The linked model: a stem, {n} blocks, a head."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
'''


def model_source(blocks: int = 56) -> str:
    parts = [
        '"""A generated model for the LSP benchmark."""\n\nimport torch\nfrom torch import nn\n'
    ]
    for i in range(blocks):
        parts.append(BLOCK.format(i=i, c=16))
    parts.append(BIG_HEAD.format(n=blocks))
    for i in range(blocks):
        parts.append(f"        self.block{i} = Block{i}(16)\n")
    parts.append("        self.pool = nn.AdaptiveAvgPool2d(1)\n")
    parts.append("        self.head = nn.Linear(16, num_classes)\n\n")
    parts.append("    def forward(self, x):\n        x = self.stem(x)\n")
    for i in range(blocks):
        parts.append(f"        x = self.block{i}(x)\n")
    parts.append("        return self.head(self.pool(x).flatten(1))\n")
    return "".join(parts)


def make_workspace(root: Path) -> Path:
    import torch

    source = root / "big_model.py"
    source.write_text(model_source())
    spec = importlib.util.spec_from_file_location("bench_big_model", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = module.BigNet().state_dict()
    # One renamed submodule, so that there is something to report.
    state = {k.replace("block3.", "block_3."): v for k, v in state.items()}
    torch.save(state, root / "big.pt")
    return source


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(root: Path, edits: int) -> None:
    source = make_workspace(root)
    text = source.read_text()
    uri = from_fs_path(str(source))
    lines = text.count("\n")
    print(f"model: {source} ({lines} lines), checkpoint {root / 'big.pt'}")

    client = LanguageClient("bench", "1")
    arrived: dict[int, float] = {}
    published = asyncio.Event()
    counts: dict[int, int] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        if params.uri == uri and params.version is not None:
            arrived.setdefault(params.version, time.perf_counter())
            counts[params.version] = len(params.diagnostics)
            published.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        print("server:", params.message[:200], file=sys.stderr)

    await client.start_io(sys.executable, "-m", "ckptlens", "lsp")
    root_uri = from_fs_path(str(root))
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)
        ),
        window=types.WindowClientCapabilities(work_done_progress=False),
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root_uri,
            workspace_folders=[types.WorkspaceFolder(root_uri, "bench")],
        )
    )
    client.initialized(types.InitializedParams())

    async def wait_for(version: int) -> float:
        while version not in arrived:
            published.clear()
            await asyncio.wait_for(published.wait(), 30)
        return arrived[version]

    start = time.perf_counter()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    cold = (await wait_for(1)) - start
    print(f"cold  didOpen -> diagnostics: {cold * 1000:7.1f} ms ({counts[1]} diagnostics)")

    # Warm: edit a literal in the big class and back, one edit at a time, as a user pausing.
    line_no = text.splitlines().index("        self.head = nn.Linear(16, num_classes)")
    variants = [
        "        self.head = nn.Linear(16, num_classes)",
        "        self.head = nn.Linear(16, num_classes)  # x",
    ]
    latencies = []
    for i in range(edits):
        version = i + 2
        new_line = variants[i % 2 == 0]
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                types.Position(line_no, 0), types.Position(line_no, len(variants[i % 2 != 0]))
            ),
            text=new_line,
        )
        start = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[change],
            )
        )
        latencies.append((await wait_for(version)) - start)
    ms = [x * 1000 for x in latencies]
    print(
        f"warm  didChange -> diagnostics over {edits} edits: p50 {statistics.median(ms):6.1f} ms"
        f"  p95 {percentile(ms, 0.95):6.1f} ms  max {max(ms):6.1f} ms"
    )
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--keep", metavar="DIR", help="build the workspace here and keep it")
    args = parser.parse_args()
    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(root, args.edits))
    else:
        with tempfile.TemporaryDirectory(prefix="ckptlens-bench-") as tmp:
            asyncio.run(run(Path(tmp), args.edits))


if __name__ == "__main__":
    main()
