"""The packaged VS Code extension: one .vsix per platform, their contents, and the server it ships.

Needs the built packages (`npm ci && npm run package:all` in vscode-extension/, or
`vscode-extension/scripts/ci.sh`): `vscode-extension/ckptlens-<target>-<version>.vsix` for the
seven platforms VS Code publishes. Without them these tests skip, unless CKPTLENS_REQUIRE_EDITORS=1
(CI sets it), when they fail instead.

Each package is checked from its zip: the manifest's TargetPlatform, the shared pure-Python
libraries, and per CPython 3.10-3.13 one libcst wheel whose native library is the file that CPython
imports on that platform, built for the platform's machine (ELF / Mach-O / PE header) and, on
Linux, C library (glibc / musl). The linux-x64 package is unpacked and its server is started
exactly as the extension starts it (`<python> -m ckptlens lsp` with
PYTHONPATH=<extension>/bundled/native/cp3XX<sep><extension>/bundled/libs), driven over stdio with
pytest-lsp, and run under every CPython 3.10-3.13 found on this machine.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
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
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
REQUIRE = os.environ.get("CKPTLENS_REQUIRE_EDITORS") == "1"

# What each platform's native library must be, written out here rather than taken from the
# packaging scripts: (header format, machine as the header names it, C library, wheel platform
# tag, the extension-module suffix that CPython 3.XX imports there with {v} = 3XX).
TARGETS: dict[str, tuple[str, str, str | None, str, str]] = {
    "win32-x64": ("PE", "AMD64", None, r"win_amd64", ".cp{v}-win_amd64.pyd"),
    "win32-arm64": ("PE", "ARM64", None, r"win_arm64", ".cp{v}-win_arm64.pyd"),
    "darwin-x64": ("Mach-O", "x86_64", None, r"macosx_\d+_\d+_x86_64", ".cpython-{v}-darwin.so"),
    "darwin-arm64": ("Mach-O", "arm64", None, r"macosx_\d+_\d+_arm64", ".cpython-{v}-darwin.so"),
    "linux-x64": (
        "ELF",
        "x86_64",
        "glibc",
        r"manylinux\w*_x86_64",
        ".cpython-{v}-x86_64-linux-gnu.so",
    ),
    "linux-arm64": (
        "ELF",
        "aarch64",
        "glibc",
        r"manylinux\w*_aarch64",
        ".cpython-{v}-aarch64-linux-gnu.so",
    ),
    "alpine-x64": (
        "ELF",
        "x86_64",
        "musl",
        r"musllinux_\d+_\d+_x86_64",
        ".cpython-{v}-x86_64-linux-musl.so",
    ),
}


def require_or_skip(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (CKPTLENS_REQUIRE_EDITORS=1 turns this skip into a failure)")
    pytest.skip(reason)


def built_vsix(target: str) -> Path:
    candidates = sorted(
        EXTENSION_DIR.glob(f"ckptlens-{target}-*.vsix"), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        require_or_skip(
            f"no vscode-extension/ckptlens-{target}-*.vsix: build the packages with "
            "`npm ci && npm run package:all` in vscode-extension/ (or vscode-extension/scripts/ci.sh)"
        )
    return candidates[-1]


def load_checker() -> ModuleType:
    """vscode-extension/scripts/check_vsix.py (for its header readers and its own verdict)."""
    path = EXTENSION_DIR / "scripts" / "check_vsix.py"
    spec = importlib.util.spec_from_file_location("check_vsix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_vsix", module)
    spec.loader.exec_module(module)
    return module


checker = load_checker()


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vsix = built_vsix("linux-x64")
    root = tmp_path_factory.mktemp("vsix")
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(root)
    return root / "extension"


@pytest.fixture(scope="module")
def manifest(unpacked: Path) -> dict[str, Any]:
    return json.loads((unpacked / "package.json").read_text(encoding="utf-8"))


def is_linux_x64() -> bool:
    return (
        sys.platform.startswith("linux")
        and platform.machine() == "x86_64"
        and platform.libc_ver()[0] == "glibc"
    )


def env_for(unpacked: Path, python: str) -> dict[str, str]:
    """The environment the extension gives the server under CPython `python`."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    bundled = unpacked / "bundled"
    env.update(
        PYTHONPATH=os.pathsep.join(
            [str(bundled / "native" / f"cp{python.replace('.', '')}"), str(bundled / "libs")]
        ),
        PYTHONSAFEPATH="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        PYTHONNOUSERSITE="1",
    )
    return env


@pytest.fixture(scope="module")
def bundle_env(unpacked: Path) -> dict[str, str]:
    """The environment for this interpreter: only the bundle on PYTHONPATH."""
    target = json.loads((unpacked / "bundled" / "target.json").read_text())
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running not in target["pythons"] or not is_linux_x64():
        pytest.skip(
            f"the bundle serves CPython {', '.join(target['pythons'])} on {target['target']}; "
            f"this is Python {running} on {sys.platform} {platform.machine()}"
        )
    return env_for(unpacked, running)


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
        "bundled/native/cp311/libcst",
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
    assert not (unpacked / "bundled" / "libs" / "libcst").exists(), "libcst is per CPython"


def test_the_bundle_imports_from_itself(
    unpacked: Path, bundle_env: dict[str, str], tmp_path: Path
) -> None:
    script = (
        "import ckptlens, pygls, lsprotocol, libcst, libcst.native; "
        "print(ckptlens.__file__, pygls.__file__, libcst.__file__, libcst.native.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=bundle_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    files = [Path(f) for f in result.stdout.split()]
    libs = unpacked / "bundled" / "libs"
    native = unpacked / "bundled" / "native" / f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert [f.is_relative_to(libs) for f in files] == [True, True, False, False], files
    assert [f.is_relative_to(native) for f in files] == [False, False, True, True], files


# -- one package per platform --------------------------------------------------------------------


def native_suffix(target: str, python: str) -> str:
    suffix = TARGETS[target][4].format(v=python.replace(".", ""))
    if TARGETS[target][2] == "musl" and python == "3.10":
        # CPython named its ABI linux-gnu on musl too before 3.11: Alpine's 3.10 imports that name.
        suffix = suffix.replace("linux-musl", "linux-gnu")
    return suffix


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_platform_package(target: str) -> None:
    vsix = built_vsix(target)
    form, machine, libc, wheel_platform, _ = TARGETS[target]
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        identity = re.search(
            r"<Identity\b[^>]*>", archive.read("extension.vsixmanifest").decode("utf-8")
        )
        assert identity is not None
        assert f'TargetPlatform="{target}"' in identity.group(0)
        package = json.loads(archive.read("extension/package.json"))
        assert vsix.name == f"ckptlens-{target}-{package['version']}.vsix"
        assert json.loads(archive.read("extension/bundled/target.json"))["target"] == target
        assert "extension/dist/extension.js" in names

        # One copy of the pure-Python libraries, no native code among them.
        for module in ("ckptlens", "pygls", "lsprotocol", "attr", "cattrs"):
            assert f"extension/bundled/libs/{module}/__init__.py" in names, module
        shared = [n for n in names if n.startswith("extension/bundled/libs/")]
        assert not [n for n in shared if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
        assert not [n for n in shared if n.startswith("extension/bundled/libs/libcst")]
        assert [n for n in names if re.fullmatch(r"extension/bundled/wheels/ckptlens-.*\.whl", n)]

        # libcst once per CPython, each the build for this platform.
        folders = {n.split("/")[3] for n in names if n.startswith("extension/bundled/native/")}
        assert folders == {f"cp{p.replace('.', '')}" for p in PYTHONS}
        for python in PYTHONS:
            v = python.replace(".", "")
            folder = f"extension/bundled/native/cp{v}/"
            dist_infos = {
                n.split("/")[4] for n in names if n.startswith(folder) and ".dist-info/" in n
            }
            assert len(dist_infos) == 1 and next(iter(dist_infos)).startswith("libcst-"), dist_infos
            wheel = archive.read(folder + next(iter(dist_infos)) + "/WHEEL").decode()
            tags = [
                line.split(":", 1)[1].strip()
                for line in wheel.splitlines()
                if line.startswith("Tag:")
            ]
            assert tags and all(re.fullmatch(rf"cp{v}-cp{v}-{wheel_platform}", t) for t in tags), (
                tags
            )
            libraries = [
                n
                for n in names
                if n.startswith(folder)
                and n.endswith((".so", ".pyd", ".dylib", ".dll"))
                and "/libcst.libs/" not in n  # auditwheel's copies of libgcc and the like
            ]
            assert libraries == [f"{folder}libcst/native{native_suffix(target, python)}"], libraries
            binary = checker.read_binary(archive.read(libraries[0]))
            assert (binary.format, binary.machines, binary.bits) == (form, [machine], 64), binary
            if libc == "glibc":
                assert "libc.so.6" in binary.needed, binary.needed
                assert not [n for n in binary.needed if "musl" in n], binary.needed
            elif libc == "musl":
                assert [n for n in binary.needed if n.startswith("libc.musl-")], binary.needed
                assert "libc.so.6" not in binary.needed
            if form == "PE":
                assert f"python{v}.dll" in binary.needed, binary.needed
    # The script CI runs agrees.
    assert checker.check(vsix)[1] == []


def test_the_header_reader_on_this_machine() -> None:
    """The ELF reader against a library whose machine and C library are known: this Python's libcst."""
    if not is_linux_x64():
        pytest.skip("needs linux-x64 (glibc)")
    import libcst.native

    binary = checker.read_binary(Path(libcst.native.__file__).read_bytes())
    assert (binary.format, binary.machines, binary.bits) == ("ELF", ["x86_64"], 64)
    assert "libc.so.6" in binary.needed
    with pytest.raises(ValueError):
        checker.read_binary(b"#!/bin/sh\n")


def test_linux_x64_ships_what_this_python_imports(unpacked: Path) -> None:
    if not is_linux_x64() or f"{sys.version_info[0]}.{sys.version_info[1]}" not in PYTHONS:
        pytest.skip("needs CPython 3.10-3.13 on linux-x64")
    folder = unpacked / "bundled" / "native" / f"cp{sys.version_info[0]}{sys.version_info[1]}"
    (library,) = (folder / "libcst").glob("native.*")
    assert any(library.name == "native" + s for s in importlib.machinery.EXTENSION_SUFFIXES)


def test_the_check_fails_on_a_package_for_another_platform(tmp_path: Path) -> None:
    """linux-arm64's contents under linux-x64's name, one CPython short: every mismatch is named."""
    source = built_vsix("linux-arm64")
    version = source.name.rsplit("-", 1)[1]
    forged = tmp_path / f"ckptlens-linux-x64-{version}"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(forged, "w") as out:
        for info in original.infolist():
            if info.filename.startswith("extension/bundled/native/cp312/"):
                continue
            data = original.read(info)
            if info.filename in ("extension.vsixmanifest", "extension/bundled/target.json"):
                data = data.replace(b"linux-arm64", b"linux-x64")
            out.writestr(info, data)
    target, problems, _ = checker.check(forged)
    assert target == "linux-x64"
    text = "\n".join(problems)
    assert "bundled/native holds ['cp310', 'cp311', 'cp313']" in text
    assert "built for ['aarch64'], expected x86_64" in text
    assert "are not CPython 3.11 on linux-x64" in text


def find_cpython(version: str) -> Path | None:
    """An interpreter for CPython `version` on this machine (PATH, pyenv, /usr/bin)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        str(p)
        for p in (Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python{version}")
    )
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if not candidate or not Path(candidate).is_file():
            continue
        probe = subprocess.run(
            [
                candidate,
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)",
            ],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.split() == [version, "cpython"]:
            return Path(candidate)
    return None


@pytest.mark.parametrize("python", PYTHONS)
def test_the_packaged_server_runs_on_each_cpython(
    python: str, unpacked: Path, tmp_path: Path
) -> None:
    """The linux-x64 bundle under CPython 3.10-3.13: libcst's native parser and the check CLI."""
    if not is_linux_x64():
        pytest.skip("the linux-x64 package runs on linux-x64 only")
    interpreter = find_cpython(python)
    if interpreter is None:
        pytest.skip(f"no CPython {python} on this machine")
    env = env_for(unpacked, python)
    script = (
        "import sys, ckptlens, ckptlens.fixes.rename, ckptlens.lsp.server, libcst, libcst.native\n"
        "text = open(sys.argv[1]).read()\n"
        "assert libcst.parse_module(text).code == text\n"
        "print(ckptlens.__file__, libcst.__file__, libcst.native.__file__)\n"
    )
    source = EXAMPLES / "mlp.py"
    result = subprocess.run(
        [str(interpreter), "-c", script, str(source)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    ckptlens_file, libcst_file, native_file = (Path(f) for f in result.stdout.split())
    assert ckptlens_file.is_relative_to(unpacked / "bundled" / "libs")
    native = unpacked / "bundled" / "native" / f"cp{python.replace('.', '')}"
    assert libcst_file.is_relative_to(native) and native_file.is_relative_to(native)

    check = subprocess.run(
        [
            str(interpreter),
            "-m",
            "ckptlens",
            "check",
            str(source),
            "--class",
            "MLP",
            "--checkpoint",
            str(EXAMPLES / "mlp_module_prefix.pt"),
            "--format",
            "json",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.stderr == ""
    codes = {f["code"] for f in json.loads(check.stdout)["findings"]}
    assert {"key-prefix", "renamed-module"} <= codes, codes


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
    """The document's ckptlens diagnostics, pulled or pushed as the server chose: a pull answers
    once the analysis of the document's version is done; a push is waited for (no clock)."""
    if result.capabilities.diagnostic_provider is not None:
        report = await asyncio.wait_for(
            client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
            DIAGNOSTICS_TIMEOUT,
        )
        found = list(getattr(report, "items", None) or [])
    else:
        while uri not in client.diagnostics:  # the one version opened: its first push
            await asyncio.wait_for(
                client.protocol.wait_for_notification_async(
                    types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
                ),
                DIAGNOSTICS_TIMEOUT,
            )
        found = list(client.diagnostics[uri])
    return [d for d in found if d.source == "ckptlens"]


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
