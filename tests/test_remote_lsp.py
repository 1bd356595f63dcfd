"""The editor checks a `from_pretrained("org/name")` load call against the Hub (the local
stand-in), read in the background with `$/progress`, headers only."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from hub_standin import HubStandIn, Repo
from test_lsp import PUBLISH, TIMEOUT, Editor
from test_remote import MODEL, SERVER, data  # noqa: F401 - `data` is a fixture

SERVER_ENV: dict[str, str] = {}  # filled before the server starts (module-scoped fixture)
SETTINGS: dict[str, Any] = {"debounceMs": 50, "progressAfterMs": 0, "sizeLens": False, "fitHints": False}
SOURCE = MODEL + '\n\nmodel = Net.from_pretrained("org/sharded")\n'


@pytest.fixture(scope="module", autouse=True)
def standin(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandIn]:  # noqa: F811
    with HubStandIn() as hub:
        hub.repos["org/sharded"] = Repo({p.name: str(p) for p in (data / "sharded").iterdir()})
        hub.repos["org/renamed"] = Repo({"model.safetensors": str(data / "renamed" / "model.safetensors")})
        home = tmp_path_factory.mktemp("lsp-remote")
        SERVER_ENV.clear()
        SERVER_ENV.update({k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CKPTLENS_REMOTE"))})
        SERVER_ENV.update(
            HF_ENDPOINT=hub.url,
            HF_HOME=str(home / "hf-home"),
            CKPTLENS_REMOTE_CACHE=str(home / "remote-cache"),
            CKPTLENS_REMOTE_OFFLINE="0",
            CKPTLENS_REMOTE_TTL="0",  # every cached answer is stale: shown, then revalidated
            PYTHONPATH=os.pathsep.join([SERVER, os.environ.get("PYTHONPATH", "")]),
        )
        yield hub


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "models.py").write_text(SOURCE)
    return tmp_path


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "ckptlens", "lsp"], server_env=SERVER_ENV),
)
async def client(lsp_client: LanguageClient, project: Path):
    lsp_client.published = {}  # type: ignore[attr-defined]
    lsp_client.pushes = {}  # type: ignore[attr-defined]
    original = lsp_client.protocol.fm.features[PUBLISH]

    def record(params: types.PublishDiagnosticsParams) -> None:
        lsp_client.published[params.uri] = params  # type: ignore[attr-defined]
        lsp_client.pushes[params.uri] = lsp_client.pushes.get(params.uri, 0) + 1  # type: ignore[attr-defined]
        original(params)

    lsp_client.protocol.fm.features[PUBLISH] = record

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        pass
    lsp_client.set_configuration(SETTINGS, section="ckptlens")
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=from_fs_path(str(project)),
            workspace_folders=[types.WorkspaceFolder(uri=from_fs_path(str(project)), name="p")],
            initialization_options={"ckptlens": SETTINGS},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await asyncio.wait_for(
        client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))),
        TIMEOUT,
    )
    return [lens.command.title for lens in lenses or [] if lens.command]


@pytest.mark.asyncio
async def test_from_pretrained_hub_id_is_checked_remotely(
    client: LanguageClient, project: Path, standin: HubStandIn
) -> None:
    editor = Editor(client, project)
    uri = editor.open("models.py")
    assert await editor.diagnostics(uri) == []
    assert "✓ 6/6 tensors match · org/sharded" in await lens_titles(client, uri)
    reports = [v for values in client.progress_reports.values() for v in values]
    assert [type(v).__name__ for v in reports] == ["WorkDoneProgressBegin", "WorkDoneProgressEnd"]
    assert reports[0].message == "Reading sharded"
    files = [(p, n) for _, p, n in standin.stats.requests if "/resolve/" in p]
    assert {p.rsplit("/", 1)[1] for p, _ in files} == {
        "model.safetensors.index.json", "config.json", *(f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3))
    }
    assert sum(n for _, n in files) < 300_000  # headers, not the 5 MB of weights

    editor.change(uri, SOURCE.replace("org/sharded", "org/renamed"))
    diagnostics = await editor.diagnostics(uri)
    assert [d.code for d in diagnostics] == ["renamed-module"]
    assert "middle" in diagnostics[0].message


@pytest.mark.asyncio
async def test_cached_answer_first_then_revalidated(
    client: LanguageClient, project: Path, standin: HubStandIn, data: Path  # noqa: F811
) -> None:
    """The cache of the test above is stale (TTL 0): the editor gets its answer at once, with no
    file read from the Hub; meanwhile the revision is asked again, and when the repo has a new
    commit, the document is re-checked against it."""
    editor = Editor(client, project)
    standin.stats.reset()
    uri = editor.open("models.py")
    assert await editor.diagnostics(uri) == []
    assert [p for _, p, _ in standin.stats.requests if "/resolve/" in p] == []
    editor.change(uri, SOURCE + "# edited\n")
    assert await editor.diagnostics(uri) == []
    before = editor.last_push(uri)
    sharded = standin.repos["org/sharded"]
    standin.repos["org/sharded"] = Repo({"model.safetensors": str(data / "renamed" / "model.safetensors")})
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while True:
            diagnostics = await editor.diagnostics(uri, fresh_after=before)
            if diagnostics or asyncio.get_running_loop().time() > deadline:
                break
            before = editor.last_push(uri)
        assert [d.code for d in diagnostics] == ["renamed-module"]
        assert any("hf://org/sharded changed" in m.message for m in client.log_messages)
    finally:
        standin.repos["org/sharded"] = sharded
