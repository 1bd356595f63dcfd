"""The packaged VS Code extension: its manifest, its contents, and the server it ships.

Needs a built `vscode-extension/*.vsix` (`npm ci && npm run package` in vscode-extension/, or
`vscode-extension/scripts/ci.sh`); skipped without one. The server is started from the unpacked
.vsix exactly as the extension starts it (`<python> -m ckptlens lsp` with
PYTHONPATH=<extension>/bundled/libs), and driven over stdio with pytest-lsp.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types

REPO = Path(__file__).resolve().parent.parent
EXTENSION_DIR = REPO / "vscode-extension"
EXAMPLES = REPO / "fixtures" / "examples"
COMMANDS = {
    "ckptlens.generateKeyMapping",
    "ckptlens.linkCheckpoint",
    "ckptlens.inspectCheckpoint",
    "ckptlens.restart",
}
SETTINGS = {
    "ckptlens.enable",
    "ckptlens.links",
    "ckptlens.interpreter",
    "ckptlens.severity",
    "ckptlens.trace.server",
}
DIAGNOSTICS_TIMEOUT = 60.0


def built_vsix() -> Path | None:
    candidates = sorted(EXTENSION_DIR.glob("*.vsix"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vsix = built_vsix()
    if vsix is None:
        pytest.skip(
            "no vscode-extension/*.vsix: build it with `npm ci && npm run package` in "
            "vscode-extension/ (or vscode-extension/scripts/ci.sh)"
        )
    root = tmp_path_factory.mktemp("vsix")
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(root)
    return root / "extension"


@pytest.fixture(scope="module")
def manifest(unpacked: Path) -> dict[str, Any]:
    return json.loads((unpacked / "package.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle_env(unpacked: Path) -> dict[str, str]:
    """The environment the extension gives the server: only the bundle on PYTHONPATH."""
    target = json.loads((unpacked / "bundled" / "target.json").read_text())
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if target["python_version"] != running or not sys.platform.startswith("linux"):
        pytest.skip(
            f"the bundle targets CPython {target['python_version']} on {target['target']}; "
            f"this is Python {running} on {sys.platform}"
        )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        PYTHONPATH=str(unpacked / "bundled" / "libs"),
        PYTHONSAFEPATH="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


# -- manifest and contents ----------------------------------------------------------------------


def test_manifest(manifest: dict[str, Any]) -> None:
    assert manifest["name"] == "ckptlens"
    assert manifest["publisher"] == "ckptlens"
    assert manifest["version"] == "0.1.0"
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["engines"]["vscode"].startswith("^1.")
    assert "onLanguage:python" in manifest["activationEvents"]
    assert "extensionDependencies" not in manifest  # the Python extension is optional
    contributes = manifest["contributes"]
    assert COMMANDS <= {c["command"] for c in contributes["commands"]}
    properties = contributes["configuration"]["properties"]
    assert SETTINGS <= set(properties)
    assert properties["ckptlens.interpreter"]["scope"] == "machine-overridable"
    untrusted = manifest["capabilities"]["untrustedWorkspaces"]
    assert untrusted["supported"] == "limited"
    assert untrusted["restrictedConfigurations"] == ["ckptlens.interpreter"]
    assert manifest["capabilities"]["virtualWorkspaces"] is False


def test_contents(unpacked: Path) -> None:
    for path in (
        "dist/extension.js",
        "bundled/libs/ckptlens/__init__.py",
        "bundled/libs/ckptlens/lsp/server.py",
        "bundled/libs/libcst",
        "bundled/libs/pygls",
        "bundled/libs/lsprotocol",
        "images/icon.png",
        "readme.md",  # vsce stores README.md and CHANGELOG.md lower-cased
        "changelog.md",
        "LICENSE.txt",
    ):
        assert (unpacked / path).exists(), path
    files = [p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()]
    assert not [f for f in files if "node_modules/" in f]
    assert not [f for f in files if f.endswith(".ts")], "TypeScript sources are not shipped"
    assert not [f for f in files if f.startswith(("src/", "test/", "out/", "scripts/"))]
    assert not [f for f in files if "__pycache__" in f]
    assert list((unpacked / "bundled" / "libs" / "libcst").rglob("native*.so")), (
        "libcst's native module"
    )


def test_the_bundle_imports_from_itself(
    unpacked: Path, bundle_env: dict[str, str], tmp_path: Path
) -> None:
    script = "import ckptlens, pygls, lsprotocol, libcst; print(ckptlens.__file__, pygls.__file__, libcst.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=bundle_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    libs = unpacked / "bundled" / "libs"
    for module_file in result.stdout.split():
        assert Path(module_file).is_relative_to(libs), module_file


# -- the packaged server over stdio -------------------------------------------------------------


def linked_example(folder: Path) -> Path:
    """fixtures/examples/mlp.py linked by a directive to the DataParallel checkpoint whose
    first layer is still called `layer1`."""
    shutil.copy2(EXAMPLES / "mlp_module_prefix.pt", folder / "mlp_module_prefix.pt")
    text = (EXAMPLES / "mlp.py").read_text(encoding="utf-8")
    text = text.replace(
        "class MLP(nn.Module):",
        "# ckptlens: checkpoint=mlp_module_prefix.pt\nclass MLP(nn.Module):",
        1,
    )
    source = folder / "mlp.py"
    source.write_text(text, encoding="utf-8")
    return source


async def ckptlens_diagnostics(
    client: pytest_lsp.LanguageClient, result: types.InitializeResult, uri: str
) -> list[types.Diagnostic]:
    """The document's ckptlens diagnostics, pulled or pushed as the server chose."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DIAGNOSTICS_TIMEOUT
    while loop.time() < deadline:
        if result.capabilities.diagnostic_provider is not None:
            report = await client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
            )
            found = list(getattr(report, "items", None) or [])
        else:
            found = list(client.diagnostics.get(uri, []))
        found = [d for d in found if d.source == "ckptlens"]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no ckptlens diagnostics for {uri} within {DIAGNOSTICS_TIMEOUT} s")


@pytest.mark.asyncio
@pytest.mark.parametrize("editor", ["visual-studio-code", "neovim"])
async def test_packaged_server_reports_the_example(
    editor: str, bundle_env: dict[str, str], tmp_path: Path
) -> None:
    source = linked_example(tmp_path)
    config = pytest_lsp.ClientServerConfig(
        server_command=[sys.executable, "-m", "ckptlens", "lsp"], server_env=bundle_env
    )
    client = await config.start()
    assert isinstance(client, pytest_lsp.LanguageClient)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        """Accepts the file watchers the server registers, as VS Code and Neovim do."""

    try:
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=pytest_lsp.client_capabilities(editor),
                root_uri=tmp_path.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="example")],
            )
        )
        assert result.server_info is not None and result.server_info.name
        text = source.read_text(encoding="utf-8")
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=source.as_uri(), language_id="python", version=1, text=text
                )
            )
        )
        diagnostics = await ckptlens_diagnostics(client, result, source.as_uri())
        by_code = {d.code: d for d in diagnostics}
        assert {"key-prefix", "renamed-module"} <= set(by_code), diagnostics
        lines = text.splitlines()
        renamed = by_code["renamed-module"].range.start
        assert lines[renamed.line][renamed.character :].startswith("self.layer_1"), renamed
        prefix = by_code["key-prefix"].range.start
        assert lines[prefix.line].startswith("class MLP"), prefix
        assert by_code["key-prefix"].severity in (
            types.DiagnosticSeverity.Error,
            types.DiagnosticSeverity.Warning,
        )
    finally:
        await client.shutdown_session()
