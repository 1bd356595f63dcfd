"""The language server is honest about coverage: an unresolved part that leaves checkpoint
tensors unchecked is an `unverified` diagnostic on the line building it (its severity set by
`ckptlens.unverifiedSeverity`), and the code lens and hover never show `✓` for it."""

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

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
TIMEOUT = 30

SOURCE = """import torch.nn as nn
from some_missing_pkg import FancyBackbone


# ckptlens: checkpoint=net.pt
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = FancyBackbone(depth=4)
        self.head = nn.Linear(8, 3)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "net.py").write_text(SOURCE)
    state = {
        "backbone.conv.weight": torch.zeros(8, 3, 3, 3),
        "backbone.conv.bias": torch.zeros(8),
        "head.weight": torch.zeros(3, 8),
        "head.bias": torch.zeros(3),
    }
    torch.save(state, tmp_path / "net.pt")
    return tmp_path


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "ckptlens", "lsp"]),
    params=["warning", "information"],
)
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest, project: Path):
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        return None

    settings: dict[str, Any] = {
        "debounceMs": 0,
        "unverifiedSeverity": request.param,
        "sizeLens": False,  # issue 17's extras are tested in test_lsp_extras.py
        "fitHints": False,
    }
    lsp_client.set_configuration(settings, section="ckptlens")
    lsp_client.severity = request.param  # type: ignore[attr-defined]
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


@pytest.mark.asyncio
async def test_unverified_diagnostic_lens_and_hover(client: LanguageClient, project: Path) -> None:
    uri = from_fs_path(str(project / "net.py"))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=SOURCE))
    )
    while True:
        await asyncio.wait_for(client.wait_for_notification(PUBLISH), TIMEOUT)
        if client.diagnostics.get(uri):
            break
    (diag,) = [d for d in client.diagnostics[uri] if d.code == "unverified"]
    want = types.DiagnosticSeverity.Warning if client.severity == "warning" else types.DiagnosticSeverity.Information  # type: ignore[attr-defined]
    assert diag.severity == want
    assert diag.range.start == types.Position(line=8, character=8)  # `self.backbone`
    assert "FancyBackbone" in diag.message and "2 checkpoint tensors" in diag.message
    assert not [d for d in client.diagnostics[uri] if d.code == "unresolved"]

    lenses = await client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri=uri)))
    titles = [lens.command.title for lens in lenses or [] if lens.command]
    assert titles == ["? 2/4 tensors checked · 2 not checked · net.pt"]

    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(line=5, character=7))
    )
    assert hover is not None
    text = hover.contents.value if isinstance(hover.contents, types.MarkupContent) else str(hover.contents)
    assert "2 of 4 checkpoint tensors compared on key and shape, 0 on key only (some dims unknown), 2 not checked" in text
    assert "- `backbone`: 2 not checked" in text
    assert "✓" not in text
