"""Issue 17 in the editor: a size lens on every nn.Module class (linked or not; a lower bound
with unknown parts, the hover says which), and an `information` hint on an unlinked class that
checkpoints of the workspace fit."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
import torch
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from torch import nn

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
TIMEOUT = 60

SOURCE = """import torch.nn as nn
from some_missing_pkg import FancyBackbone


class Net(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, 3)


class WithBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = FancyBackbone(depth=4)
        self.head = nn.Linear(8, 3)


# ckptlens: checkpoint=linked.pt
class Linked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 12)
        self.bn = nn.BatchNorm1d(12)
        self.fc2 = nn.Linear(12, 3)


class NotAModule:
    pass
"""


class Net(nn.Module):
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, 3)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "models.py").write_text(SOURCE)
    net = Net()
    for version in (0, 1):
        folder = tmp_path / "lightning_logs" / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        torch.save({"epoch": version, "state_dict": net.state_dict()}, folder / "last.ckpt")
    linked = Net(hidden=12).state_dict()  # Linked's layers, saved through DataParallel
    torch.save({f"module.{k}": v for k, v in linked.items()}, tmp_path / "linked.pt")
    torch.save(Net(hidden=5).state_dict(), tmp_path / "other_width.pt")  # partial: no hint
    return tmp_path


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "ckptlens", "lsp"]))
async def client(lsp_client: LanguageClient, project: Path):
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        return None

    settings: dict[str, Any] = {"debounceMs": 0}
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
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, project: Path) -> str:
    uri = from_fs_path(str(project / "models.py"))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=SOURCE))
    )
    while uri not in client.diagnostics:
        await asyncio.wait_for(client.wait_for_notification(PUBLISH), TIMEOUT)
    return uri


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate(SOURCE.splitlines()) if line.startswith(text))


@pytest.mark.asyncio
async def test_size_lenses_and_hover(client: LanguageClient, project: Path) -> None:
    uri = await _open(client, project)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri=uri)))
    by_line: dict[int, list[str]] = {}
    for lens in lenses or []:
        assert lens.command is not None
        by_line.setdefault(lens.range.start.line, []).append(lens.command.title)
    def size(net: nn.Module) -> str:
        params = sum(p.numel() for p in net.parameters())
        nbytes = sum(t.numel() * t.element_size() for t in net.state_dict().values())
        return f"{params} params · {nbytes / 1024:.1f} KiB fp32" if nbytes >= 1024 else f"{params} params · {nbytes} B fp32"

    assert by_line[_line_of("class Net(")] == [size(Net())]
    # linked or not: the linked class has its check's lens and its size
    linked = by_line[_line_of("class Linked(")]
    assert size(Net(hidden=12)) in linked and any("linked.pt" in title for title in linked)
    # an unresolvable part: a lower bound
    (bound,) = by_line[_line_of("class WithBackbone(")]
    assert bound == "≥ 27 params · ≥ 108 B fp32"
    assert _line_of("class NotAModule") not in by_line

    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(line=_line_of("class WithBackbone("), character=8))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    text = hover.contents.value
    assert "A lower bound: these parts are not known statically:" in text
    assert "- backbone: " in text and "FancyBackbone" in text


@pytest.mark.asyncio
async def test_fit_hint_on_unlinked_class(client: LanguageClient, project: Path) -> None:
    uri = await _open(client, project)
    for _ in range(10):
        hints = [d for d in client.diagnostics[uri] if d.code == "checkpoints-fit"]
        if hints:
            break
        await asyncio.wait_for(client.wait_for_notification(PUBLISH), TIMEOUT)
    (hint,) = hints  # Net only: Linked has its checkpoint, WithBackbone fits none of them
    assert hint.severity == types.DiagnosticSeverity.Information
    assert hint.message == "2 checkpoints in lightning_logs/ fit this class"
    line = _line_of("class Net(")
    assert hint.range.start == types.Position(line=line, character=6)
    assert hint.range.end == types.Position(line=line, character=9)


@pytest.mark.asyncio
async def test_commands_for_any_client(client: LanguageClient, project: Path) -> None:
    """`ckptlens.findCheckpoints` ranks the workspace for a class; `ckptlens.writeFixedCheckpoint
    .server` writes the class's linked checkpoint, remapped, and refuses its source."""
    from safetensors.torch import load_file

    uri = await _open(client, project)
    ranked = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ckptlens.findCheckpoints", arguments=[uri, "Net"])
    )
    fits = [(Path(c["checkpoint"]).relative_to(project).as_posix(), c["fit"]) for c in ranked]
    assert sorted(fits[:2]) == [
        ("lightning_logs/version_0/checkpoints/last.ckpt", "exact"),
        ("lightning_logs/version_1/checkpoints/last.ckpt", "exact"),
    ]
    assert dict(fits)["other_width.pt"] in ("partial", "unrelated")

    out = project / "linked.fixed.safetensors"
    report = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="ckptlens.writeFixedCheckpoint.server", arguments=[uri, "Linked", str(out)]
        )
    )
    model = Net(hidden=12)  # Linked's layers
    assert report["files"] == [str(out)]
    assert report["renamed"] == report["tensors"] == len(model.state_dict())
    model.load_state_dict(load_file(str(out)), strict=True)
    source = torch.load(project / "linked.pt")
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, source[f"module.{key}"])
    refused = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="ckptlens.writeFixedCheckpoint.server",
            arguments=[uri, "Linked", str(project / "out.safetensors"), str(project / "linked.pt")],
        )
    )
    assert refused["files"] == [str(project / "out.safetensors")]
    same = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="ckptlens.writeFixedCheckpoint.server",
            arguments=[uri, "Linked", str(project / "linked.pt")],
        )
    )
    assert same["error"].startswith("refusing to overwrite the source checkpoint")
    unlinked = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="ckptlens.writeFixedCheckpoint.server", arguments=[uri, "Net", str(project / "n.safetensors")]
        )
    )
    assert unlinked == {"error": "`Net` has no linked checkpoint: name one"}
