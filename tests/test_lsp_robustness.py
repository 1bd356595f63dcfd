"""`ckptlens lsp` under hostile input (issue 13, item 3): the server never blocks.

* A slow document (a 20,000-line `__init__`, which the engine takes tens of seconds over) is
  analysed in the worker process while a hover on another document is answered; the worker is
  killed at `ckptlens.analysisTimeoutMs` and the slow document gets one `analysis-stopped`
  diagnostic; the other documents are analysed by a fresh worker afterwards.
* An analysis that hangs without ever checking a budget (injected: `time.sleep`) is killed too.
* A 49 MiB didOpen is not analysed (`document-too-large`) and does not hold up other documents.
* Requests with invalid params get -32602 replies; malformed frames end the session cleanly or
  are answered with an error and skipped — checked against the real server process over raw
  stdio (bytes in, replies out, exit status).

Ordering is asserted on events (which reply or notification arrived first), never on a clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
import torch
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_failing_server import (
    ENGINE_IN_SERVER,
    HANG_ANALYSIS,
    HANG_READ,
    HANG_SCAN,
    NO_ENGINE_IN_SERVER,
)

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
TIMEOUT = 60
SERVER = [sys.executable, "-m", "ckptlens", "lsp"]
FAILING_SERVER = [sys.executable, str(Path(__file__).parent / "lsp_failing_server.py")]
GUARDED_SERVER = [*FAILING_SERVER, NO_ENGINE_IN_SERVER]

NET = """import torch.nn as nn


# ckptlens: checkpoint=net.pt
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)
"""


def slow_source(lines: int = 20_000) -> str:
    """A model whose `__init__` builds `lines` layers: tens of seconds of analysis."""
    body = "".join(f"        self.l{i} = nn.Linear(8, 8)\n" for i in range(lines))
    return (
        "import torch.nn as nn\n\n\n# ckptlens: checkpoint=net.pt\nclass Slow(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n" + body
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "net.py").write_text(NET)
    state = {
        "body.weight": torch.zeros(8, 8),
        "body.bias": torch.zeros(8),
        "head.weight": torch.zeros(3, 8),  # the model says 4: a shape mismatch to report
        "head.bias": torch.zeros(3),
    }
    torch.save(state, tmp_path / "net.pt")
    return tmp_path


async def start(lsp_client: LanguageClient, project: Path, timeout_ms: int) -> None:
    lsp_client.events = []  # type: ignore[attr-defined]
    lsp_client.publishes = {}  # type: ignore[attr-defined]
    original = lsp_client.protocol.fm.features[PUBLISH]

    def record(params: types.PublishDiagnosticsParams) -> None:
        lsp_client.events.append(("publish", params.uri))  # type: ignore[attr-defined]
        lsp_client.publishes.setdefault(params.uri, []).append(params)  # type: ignore[attr-defined]
        original(params)

    lsp_client.protocol.fm.features[PUBLISH] = record

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        return None

    settings: dict[str, Any] = {"debounceMs": 0, "analysisTimeoutMs": timeout_ms}
    lsp_client.set_configuration(settings, section="ckptlens")
    root = from_fs_path(str(project))
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root,
            workspace_folders=[types.WorkspaceFolder(uri=root, name="project")],
            initialization_options={"ckptlens": settings},
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, project: Path):
    await start(lsp_client, project, 2000)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=FAILING_SERVER))
async def failing(lsp_client: LanguageClient, project: Path):
    await start(lsp_client, project, 1000)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=GUARDED_SERVER))
async def guarded(lsp_client: LanguageClient, project: Path):
    await start(lsp_client, project, 20_000)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=FAILING_SERVER))
async def failing_8s(lsp_client: LanguageClient, project: Path):
    await start(lsp_client, project, 8000)
    yield
    await lsp_client.shutdown_session()


def publishes(client: LanguageClient, uri: str) -> list[types.PublishDiagnosticsParams]:
    return client.publishes.get(uri, [])  # type: ignore[attr-defined,no-any-return]


async def until_published(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """Wait, on publishDiagnostics notifications, for `uri`'s diagnostics of `version`."""
    while not any(p.version == version for p in publishes(client, uri)):
        await asyncio.wait_for(client.protocol.wait_for_notification_async(PUBLISH), TIMEOUT)
    return list([p for p in publishes(client, uri) if p.version == version][-1].diagnostics)


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = from_fs_path(str(path))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def change_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def hover_net(client: LanguageClient, uri: str) -> str:
    hover = await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(4, 7))
        ),
        TIMEOUT,
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value


def errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.log_messages if m.type == types.MessageType.Error]


# -- a slow document delays only itself ----------------------------------------------------------


@pytest.mark.asyncio
async def test_hover_answers_while_a_slow_document_is_analysed_then_it_is_stopped(
    client: LanguageClient, project: Path
) -> None:
    net = open_doc(client, project / "net.py", NET)
    (first,) = await until_published(client, net, 1)
    assert first.code == "shape-mismatch"

    slow = open_doc(client, project / "slow.py", slow_source())
    text = await hover_net(client, net)
    client.events.append(("hover", net))  # type: ignore[attr-defined]
    assert "`Net`" in text
    assert "108 params" in text  # the size lens' hover, computed by the worker beforehand
    # The hover was answered while the slow document's analysis was still running: nothing
    # has been published for it yet.
    assert ("publish", slow) not in client.events  # type: ignore[attr-defined]

    (stopped,) = await until_published(client, slow, 1)
    assert stopped.code == "analysis-stopped"
    assert stopped.severity == types.DiagnosticSeverity.Warning
    assert stopped.message == (
        "ckptlens stopped analysing this file: it took longer than 2 s "
        "(ckptlens.analysisTimeoutMs); it is analysed again when it changes"
    )
    events = client.events  # type: ignore[attr-defined]
    assert events.index(("hover", net)) < events.index(("publish", slow))

    # A fresh worker analyses the other document's next version.
    change_doc(client, net, NET.replace("nn.Linear(8, 4)", "nn.Linear(8, 3)"), 2)
    assert await until_published(client, net, 2) == []
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_slow_file_on_disk_is_skipped_not_blamed_on_the_document(
    failing: LanguageClient, project: Path
) -> None:
    client = failing
    # Never opened: found by the workspace scan that every document's analysis starts with
    # (its scan hangs, injected).
    (project / "slow.py").write_text(HANG_SCAN + "\n" + slow_source(10))
    net = open_doc(client, project / "net.py", NET)
    # The worker was killed while scanning slow.py: that file is skipped from then on, and
    # net.py is analysed again without it (its diagnostics are its own, no `analysis-stopped`).
    (only,) = await until_published(client, net, 1)
    assert only.code == "shape-mismatch"
    slow_uri = from_fs_path(str(project / "slow.py"))
    assert [m.message for m in client.log_messages if "stopped analysing" in m.message] == [
        f"ckptlens: stopped analysing {slow_uri} (while reading {net}): it took longer than 1 s"
    ]
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_hang_no_budget_checks_is_killed(failing: LanguageClient, project: Path) -> None:
    client = failing
    net = open_doc(client, project / "net.py", NET)
    (first,) = await until_published(client, net, 1)
    assert first.code == "shape-mismatch"

    hung = NET.replace("class Net", f"{HANG_ANALYSIS}\nclass Net")
    other = open_doc(client, project / "hung.py", hung)
    (stopped,) = await until_published(client, other, 1)
    assert (stopped.code, stopped.range.start) == ("analysis-stopped", types.Position(0, 0))
    assert "it took longer than 1 s" in stopped.message

    def stops() -> int:
        return sum("stopped analysing" in m.message for m in client.log_messages)

    assert stops() == 1
    # The hung text is not tried again: a re-check of every document (a watched checkpoint
    # changed) republishes the same diagnostic without another try (which would log again
    # before publishing)...
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(from_fs_path(str(project / "net.pt")), types.FileChangeType.Changed)
            ]
        )
    )
    while len(publishes(client, other)) < 2:
        await asyncio.wait_for(client.protocol.wait_for_notification_async(PUBLISH), TIMEOUT)
    assert list(publishes(client, other)[1].diagnostics) == [stopped]
    assert stops() == 1
    # ...until it changes: then it is (and is stopped again).
    change_doc(client, other, hung + "\n", 2)
    (again,) = await until_published(client, other, 2)
    assert again.code == "analysis-stopped"
    assert stops() == 2
    # The other document is analysed by a fresh worker.
    change_doc(client, net, NET + "\n", 2)
    assert [d.code for d in await until_published(client, net, 2)] == ["shape-mismatch"]
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_checkpoint_whose_read_hangs_is_stopped(
    failing_8s: LanguageClient, project: Path
) -> None:
    """Checkpoints are read in processes of their own, killed at the time cap: the document
    linked to a file whose read hangs gets a `checkpoint-error`; meanwhile another document's
    checkpoint is read by the other reader, and that document is analysed and published first."""
    client = failing_8s
    name = f"{HANG_READ}.pt"
    (project / name).write_bytes((project / "net.pt").read_bytes())
    hung = open_doc(client, project / "hung.py", NET.replace("checkpoint=net.pt", f"checkpoint={name}"))
    net = open_doc(client, project / "net.py", NET)
    assert [d.code for d in await until_published(client, net, 1)] == ["shape-mismatch"]
    assert ("publish", hung) not in client.events  # type: ignore[attr-defined]
    (error,) = await until_published(client, hung, 1)
    assert error.code == "checkpoint-error"
    assert error.message == f"{project / name}: ckptlens stopped reading it: it took longer than 8 s"
    assert error.range.start.line == 3  # the path in the directive
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_49_mib_document_is_not_analysed(client: LanguageClient, project: Path) -> None:
    net = open_doc(client, project / "net.py", NET)
    await until_published(client, net, 1)

    huge = open_doc(client, project / "huge.py", "x = 1\n" * (49 * 1024 * 1024 // 6))
    text = await hover_net(client, net)
    assert "`Net`" in text
    (only,) = await until_published(client, huge, 1)
    assert only.code == "document-too-large"
    assert only.severity == types.DiagnosticSeverity.Information
    assert only.message == (
        f"ckptlens does not analyse this file: it is {49 * 1024 * 1024 // 6 * 6:,} bytes, "
        "over the 2,000,000-byte limit (ckptlens.maxDocumentSize)"
    )
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=huge), types.Position(0, 0))
    )
    assert hover is None
    # Other documents are still analysed, and never see the huge buffer.
    change_doc(client, net, NET.replace("nn.Linear(8, 4)", "nn.Linear(8, 3)"), 2)
    assert await until_published(client, net, 2) == []
    # The transport left the text out (pygls holds ""): an edit of it is not analysed either,
    # whatever it makes of pygls' copy; a whole text under the cap is.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=huge, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(0, 0), types.Position(100_000, 0)), text=NET
                )
            ],
        )
    )
    (still,) = await until_published(client, huge, 2)
    assert (still.code, still.message) == (only.code, only.message)
    change_doc(client, huge, NET.replace("nn.Linear(8, 4)", "nn.Linear(8, 3)"), 3)
    assert await until_published(client, huge, 3) == []
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_large_text_under_the_cap_is_analysed(client: LanguageClient, project: Path) -> None:
    # 1.5 MB: over the transport's 1 MiB large-frame threshold, under the 2 MB document cap.
    padding = "# " + "p" * 98 + "\n"
    text = NET + padding * (1_500_000 // len(padding))
    big = open_doc(client, project / "big.py", text)
    assert [d.code for d in await until_published(client, big, 1)] == ["shape-mismatch"]
    assert errors(client) == []


# -- the safety verdict in the editor (issue 13 item 1) -----------------------------------------


@pytest.mark.asyncio
async def test_an_unsafe_checkpoint_is_a_diagnostic_and_its_verdict_is_in_the_hover(
    client: LanguageClient, project: Path
) -> None:
    import argparse
    import uuid

    state = {"body.weight": torch.zeros(8, 8), "body.bias": torch.zeros(8)}
    state |= {"head.weight": torch.zeros(4, 8), "head.bias": torch.zeros(4)}
    record = {"state_dict": state, "args": argparse.Namespace(lr=0.1), "run": uuid.UUID(int=7)}
    torch.save(record, project / "unsafe.pt")
    with pytest.raises(Exception, match="Unsupported global"):  # the control: torch refuses it
        torch.load(project / "unsafe.pt", weights_only=True)
    source = NET.replace("checkpoint=net.pt", "checkpoint=unsafe.pt")
    uri = open_doc(client, project / "unsafe_net.py", source)
    (only,) = await until_published(client, uri, 1)
    assert (only.code, only.severity, only.source) == (
        "unsafe-checkpoint", types.DiagnosticSeverity.Warning, "ckptlens",
    )  # fmt: skip
    assert only.range.start.line == 4  # the class line
    assert only.message.startswith(
        "checkpoint is needs-trust: torch.load(weights_only=True) refuses it (globals outside "
        "torch's weights_only allow-list: argparse.Namespace, uuid.UUID"
    )
    text = await hover_net(client, uri)
    assert "Safety: **needs-trust** · `torch.load(weights_only=True)` refuses it" in text
    assert "| `argparse.Namespace` | no code |" in text
    assert "| `uuid.UUID` | unknown |" in text

    net = open_doc(client, project / "net.py", NET)
    await until_published(client, net, 1)
    assert "Safety: **safe** · `torch.load(weights_only=True)` loads it" in await hover_net(client, net)
    assert errors(client) == []


# -- the engine runs only in the worker ------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_feature_is_answered_without_the_engine_in_the_server_process(
    guarded: LanguageClient, project: Path
) -> None:
    client = guarded
    net = open_doc(client, project / "net.py", NET)
    (first,) = await until_published(client, net, 1)
    assert first.code == "shape-mismatch"
    text = await hover_net(client, net)
    assert "**`Net`** · ✗ 2 shape mismatch · net.pt" in text
    assert "108 params · 432 B fp32" in text  # the size lens' hover
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(uri=net))
    )
    titles = sorted(lens.command.title for lens in lenses if lens.command is not None)
    assert titles == ["108 params · 432 B fp32", "✗ 2 shape mismatch · net.pt"]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri=net),
            first.range,
            types.CodeActionContext(diagnostics=[first]),
        )
    )
    assert actions is not None
    assert sorted(a.title for a in actions if isinstance(a, types.CodeAction)) == [
        "Change `out_features` to 3 (as in the checkpoint)",
        "Generate key mapping for `Net` (net.pt)",
    ]
    ranked = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ckptlens.findCheckpoints", arguments=[net, "Net"])
    )
    assert [(r["checkpoint"], r["fit"]) for r in ranked] == [(str(project / "net.pt"), "partial")]
    assert errors(client) == []


@pytest.mark.asyncio
async def test_a_document_publishes_at_most_500_diagnostics(guarded: LanguageClient, project: Path) -> None:
    """Their conversion runs on the event loop: beyond 500, one diagnostic says how many."""
    client = guarded
    uri = open_doc(client, project / "many.py", slow_source(600))
    diagnostics = await until_published(client, uri, 1)
    assert len(diagnostics) == 501
    first = diagnostics[0]
    assert (first.code, first.severity, first.range.start) == (
        "diagnostics-truncated", types.DiagnosticSeverity.Information, types.Position(0, 0),
    )  # fmt: skip
    shown = diagnostics[1:]
    # 600 layers against net.pt's `body` and `head`: one renamed to `body`, 599 missing, and
    # `head` unexpected
    assert first.message == (
        "ckptlens shows 500 of the 601 diagnostics of this file (errors and warnings first)"
    )
    # errors first (every missing key), in the order of the file
    assert [d.severity for d in shown] == [types.DiagnosticSeverity.Error] * 500
    lines = [d.range.start.line for d in shown if d.code == "missing-key"]
    assert lines == sorted(lines) and len(lines) >= 490
    assert errors(client) == []


def test_the_engine_guard_raises_in_the_process_it_is_set_in() -> None:
    """The control for the test above: with the guard set, building a session fails."""
    code = (
        "import lsp_failing_server as f; f.guard_engine()\n"
        "from ckptlens.lsp.analysis import Session\n"
        "try:\n    Session(['.'])\nexcept RuntimeError as exc:\n    print(exc)\n"
    )
    path = os.pathsep.join([str(Path(__file__).parent), *(p for p in sys.path if p)])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path},
        timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == ENGINE_IN_SERVER


# -- raw stdio: invalid params and malformed frames ------------------------------------------------


class RawServer:
    """The real server process, driven byte by byte."""

    def __init__(self, cwd: Path) -> None:
        self.stderr_path = cwd / "stderr.txt"
        self.stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in `finish`
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            cwd=cwd, env=env,
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            length = None
            while True:
                line = stdout.readline()
                if not line:
                    self.messages.put(None)
                    return
                if not line.strip():
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.messages.put(json.loads(stdout.read(length)))

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def reply(self) -> dict[str, Any]:
        """The next reply to a request of ours (notifications are passed over)."""
        while True:
            message = self.messages.get(timeout=TIMEOUT)
            assert message is not None, "the server closed its output"
            if "method" not in message:
                return message

    def initialize(self) -> None:
        self.send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        assert "capabilities" in self.reply()["result"]
        self.send({"method": "initialized", "params": {}})

    def finish(self) -> tuple[int, str]:
        """Wait for the process to end by itself (stdin still open): status and stderr."""
        status = self.proc.wait(timeout=TIMEOUT)
        self.stderr.close()
        return status, self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.stderr.closed:
            self.stderr.close()


@pytest.fixture
def raw(tmp_path: Path):
    server = RawServer(tmp_path)
    server.initialize()
    yield server
    server.close()


def hover(id_: int, position: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "method": "textDocument/hover",
        "params": {"textDocument": {"uri": "file:///nowhere/a.py"}, "position": position},
    }


@pytest.mark.parametrize(
    "position",
    [
        {"line": 10**12, "character": 0},
        {"line": -1, "character": 0},
        {"line": 0, "character": -5},
        {"line": "zero", "character": 0},
        {"line": 0},
        None,
    ],
    ids=["huge-line", "negative-line", "negative-character", "string-line", "no-character", "null"],
)
def test_invalid_params_get_invalid_params_replies(raw: RawServer, position: Any) -> None:
    raw.send(hover(7, position))
    reply = raw.reply()
    assert reply["id"] == 7
    assert reply["error"]["code"] == -32602
    assert reply["error"]["message"].startswith("invalid params for textDocument/hover: ")
    # The session goes on: the next (valid) request is answered.
    raw.send(hover(8, {"line": 0, "character": 0}))
    assert raw.reply() == {"jsonrpc": "2.0", "id": 8, "result": None}
    assert raw.proc.poll() is None


def test_invalid_params_in_a_notification_are_skipped(raw: RawServer) -> None:
    raw.send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": 5}}})
    raw.send(hover(9, {"line": 0, "character": 0}))
    assert raw.reply() == {"jsonrpc": "2.0", "id": 9, "result": None}


def test_truncated_json_is_answered_and_skipped(raw: RawServer) -> None:
    body = b'{"jsonrpc": "2.0", "id": 5, "method": "textDocument/hov'
    raw.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reply = raw.reply()
    assert (reply["id"], reply["error"]["code"]) == (None, -32700)
    raw.write(b"Content-Length: 6\r\n\r\n[1, 2]")
    reply = raw.reply()
    assert (reply["id"], reply["error"]["code"]) == (None, -32600)
    # The frames after them are read where they start: no desync.
    raw.send(hover(6, {"line": 0, "character": 0}))
    assert raw.reply() == {"jsonrpc": "2.0", "id": 6, "result": None}


def test_a_malformed_large_body_is_answered_and_skipped(raw: RawServer) -> None:
    # Over the 1 MiB large-frame threshold: scanned in the reader thread, what is around the
    # long string is not JSON.
    body = b'{"jsonrpc": "2.0", "id": 5, "method": "x", "params": {"t": "' + b"a" * (3 << 20) + b'", }}'
    raw.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reply = raw.reply()
    assert (reply["id"], reply["error"]["code"]) == (None, -32700)
    raw.send(hover(6, {"line": 0, "character": 0}))
    assert raw.reply() == {"jsonrpc": "2.0", "id": 6, "result": None}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"Content-Length: abc\r\n", "a Content-Length that is not a byte count: 'abc'"),
        (b"Content-Length: -5\r\n", "a Content-Length that is not a byte count: '-5'"),
        (b"Content-Type: x\r\n", "a frame without a Content-Length header"),
        (
            b"Content-Length: 1000000000\r\n",
            "a Content-Length of 1,000,000,000 bytes, over the 268,435,456-byte limit",
        ),
        (b"X" * 9000 + b"\r\n", "a header line longer than 8192 bytes"),
    ],
    ids=["non-numeric", "negative", "no-length", "one-gigabyte", "long-header"],
)
def test_a_malformed_frame_ends_the_session_cleanly(raw: RawServer, header: bytes, reason: str) -> None:
    # The body the header announces never comes: the server must not wait for it (stdin stays
    # open), nor read the JSON after it as headers.
    raw.write(header + b"\r\n" + json.dumps(hover(3, {"line": 0, "character": 0})).encode())
    status, stderr = raw.finish()
    assert status == 1
    assert f"ckptlens lsp: closing the connection: the client sent {reason}" in stderr
    assert "Traceback" not in stderr
    # Nothing was answered after the malformed frame.
    leftovers = []
    while (message := raw.messages.get(timeout=TIMEOUT)) is not None:
        leftovers.append(message)
    assert [m for m in leftovers if "id" in m and "method" not in m] == []


def test_a_stream_ending_inside_a_body_ends_the_session(raw: RawServer) -> None:
    raw.write(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"")
    assert raw.proc.stdin is not None
    raw.proc.stdin.close()
    status, stderr = raw.finish()
    assert status == 0
    assert "Traceback" not in stderr
