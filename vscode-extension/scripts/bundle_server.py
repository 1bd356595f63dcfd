#!/usr/bin/env python3
"""Puts the ckptlens language server inside the extension, for one target platform.

    bundled/libs/    the server package (copied from ../server/ckptlens) and its dependencies
                     (pygls, lsprotocol, libcst, ...) as pip installs them for the target:
                     the extension runs `<python> -m ckptlens lsp` with PYTHONPATH=bundled/libs
    bundled/wheels/  the server as a wheel: what the extension pip-installs into an environment
                     whose Python cannot load bundled/libs (another version or platform)

libcst ships native wheels, so bundled/libs holds binaries for one platform and one CPython
version: build one .vsix per target (`--target` as for `vsce package --target`).

Usage: python3 scripts/bundle_server.py [--target linux-x64] [--python-version 3.11]
Re-running is cheap: dependencies are downloaded again only when the requirements, the target or
the Python version change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTENSION = HERE.parent
REPO = EXTENSION.parent
SERVER_PACKAGE = REPO / "server" / "ckptlens"
PYPROJECT = REPO / "pyproject.toml"
BUNDLED = EXTENSION / "bundled"
LIBS = BUNDLED / "libs"
WHEELS = BUNDLED / "wheels"
STAMPS = EXTENSION / ".bundle-stamps"  # outside bundled/: never shipped
STAMP = STAMPS / "libs.json"

# vsce target -> pip platform tags (the first that has a wheel wins).
PLATFORMS: dict[str, list[str]] = {
    "linux-x64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
    "linux-arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    "alpine-x64": ["musllinux_1_1_x86_64", "musllinux_1_2_x86_64"],
    "alpine-arm64": ["musllinux_1_1_aarch64", "musllinux_1_2_aarch64"],
    "darwin-x64": ["macosx_10_9_x86_64", "macosx_10_13_x86_64", "macosx_11_0_x86_64"],
    "darwin-arm64": ["macosx_11_0_arm64"],
    "win32-x64": ["win_amd64"],
    "win32-arm64": ["win_arm64"],
}

# Used when ../pyproject.toml cannot be read (Python < 3.11 has no tomllib).
FALLBACK_REQUIREMENTS = ["pygls>=2.0,<3", "lsprotocol>=2025.0.0", "libcst>=1.1"]

# Not needed at run time; dropped to keep the .vsix small.
PRUNE_DIRS = {"__pycache__", "tests", "bin"}


def log(message: str) -> None:
    print(f"[bundle_server] {message}", flush=True)


def requirements() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        return FALLBACK_REQUIREMENTS
    with PYPROJECT.open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def tree_digest(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def pip(*args: str) -> None:
    """Runs pip; its output (build back-ends are chatty) is shown only when it fails."""
    command = [sys.executable, "-m", "pip", *args]
    log(" ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"[bundle_server] pip failed with exit code {result.returncode}")


def install_dependencies(reqs: list[str], platforms: list[str], python_version: str) -> None:
    stamp = {"requirements": reqs, "platforms": platforms, "python_version": python_version}
    if STAMP.is_file() and json.loads(STAMP.read_text()) == stamp and (LIBS / "libcst").is_dir():
        log(f"dependencies up to date in {LIBS.relative_to(EXTENSION)}")
        return
    if LIBS.exists():
        shutil.rmtree(LIBS)
    LIBS.mkdir(parents=True)
    platform_args = [arg for tag in platforms for arg in ("--platform", tag)]
    pip(
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(LIBS),
        *platform_args,
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        *reqs,
    )
    prune(LIBS)
    STAMPS.mkdir(exist_ok=True)
    STAMP.write_text(json.dumps(stamp, indent=2) + "\n")


def prune(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in {".pyc", ".pyo"}:
            path.unlink()


def copy_server() -> None:
    target = LIBS / "ckptlens"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SERVER_PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    log(f"copied {SERVER_PACKAGE.relative_to(REPO)} -> {target.relative_to(EXTENSION)}")


def build_wheel() -> None:
    """The server as a wheel, built from a copy of the sources so the repository stays clean."""
    digest = tree_digest(SERVER_PACKAGE, PYPROJECT)
    stamp = STAMPS / "wheel-source-digest"
    if (
        stamp.is_file()
        and stamp.read_text().strip() == digest
        and any(WHEELS.glob("ckptlens-*.whl"))
    ):
        log("server wheel up to date")
        return
    if WHEELS.exists():
        shutil.rmtree(WHEELS)
    WHEELS.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="ckptlens-wheel-") as tmp:
        source = Path(tmp) / "src"
        (source / "server").mkdir(parents=True)
        shutil.copy2(PYPROJECT, source / "pyproject.toml")
        readme = REPO / "README.md"
        if readme.is_file():
            shutil.copy2(readme, source / "README.md")
        shutil.copytree(
            SERVER_PACKAGE,
            source / "server" / "ckptlens",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        pip(
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--wheel-dir",
            str(WHEELS),
            str(source),
        )
    STAMPS.mkdir(exist_ok=True)
    stamp.write_text(digest + "\n")
    log(f"built {', '.join(p.name for p in WHEELS.glob('*.whl'))}")


def check_import(python_version: str) -> None:
    """When this Python matches the target, the bundle must import without anything else."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != python_version:
        log(
            f"skipping the import check: this is Python {sys.version_info.major}.{sys.version_info.minor}"
        )
        return
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        PYTHONPATH=str(LIBS), PYTHONSAFEPATH="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1"
    )
    script = "import ckptlens, pygls, lsprotocol, libcst, libcst.native; print(ckptlens.__file__)"
    result = subprocess.run(
        [sys.executable, "-s", "-c", script],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not result.stdout.strip().startswith(str(LIBS)):
        sys.exit(
            f"[bundle_server] the bundle does not import on its own:\n{result.stdout}{result.stderr}"
        )
    log(f"import check passed ({result.stdout.strip()})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target", default="linux-x64", choices=sorted(PLATFORMS), help="as for vsce --target"
    )
    parser.add_argument(
        "--python-version", default="3.11", help="the CPython version the bundle is built for"
    )
    parser.add_argument("--no-wheel", action="store_true", help="skip building bundled/wheels")
    args = parser.parse_args()
    reqs = requirements()
    log(f"target {args.target}, CPython {args.python_version}: {', '.join(reqs)}")
    install_dependencies(reqs, PLATFORMS[args.target], args.python_version)
    copy_server()
    if args.no_wheel:
        if WHEELS.exists():
            shutil.rmtree(WHEELS)
    else:
        build_wheel()
    (BUNDLED / "target.json").write_text(
        json.dumps({"target": args.target, "python_version": args.python_version}, indent=2) + "\n"
    )
    if args.target == "linux-x64" and sys.platform == "linux":
        check_import(args.python_version)
    prune(LIBS)  # bytecode left by anything that ran the bundle in place


if __name__ == "__main__":
    main()
