#!/usr/bin/env python3
"""Puts the ckptlens language server inside the extension, for one target platform.

    bundled/libs/           the server package (copied from ../server/ckptlens) and its pure-Python
                            dependencies (pygls, lsprotocol, attrs, cattrs, ...): one copy, shared
                            by every CPython version
    bundled/native/cp3XX/   libcst (a native library) for CPython 3.XX on the target platform, one
                            folder per supported CPython (3.10-3.13), each unpacked from that
                            version's libcst wheel (its .dist-info/WHEEL names the wheel's tag)
    bundled/wheels/         the server as a wheel: what the extension pip-installs into an
                            environment whose Python cannot run the bundle (another version,
                            implementation or platform)
    bundled/target.json     the target, and which wheel each folder came from

The extension runs `<python> -m ckptlens lsp` with PYTHONPATH=bundled/native/cp3XX<sep>bundled/libs,
choosing cp3XX by the running interpreter (see src/common/launch.ts).

libcst's own dependency PyYAML is left out on purpose: only libcst's codemod command line
(`libcst.tool`) imports it, ckptlens never does, and PyYAML publishes no Windows-on-Arm wheels.

Usage: python3 scripts/bundle_server.py [--target linux-x64]

Downloads are cached in vscode-extension/.cache (never shipped, gitignored): a re-run with the same
requirements makes no network request. Delete .cache to pick up newer releases. pip evaluates
environment markers (`python_version < "3.11"`) for the Python running it, not for
`--python-version`; the pure-Python dependencies are therefore closed over each supported
version's markers here (e.g. cattrs needs exceptiongroup on 3.10 only).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import email.parser
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ModuleNotFoundError:  # pragma: no cover - a bare interpreter: pip's vendored copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
EXTENSION = HERE.parent
REPO = EXTENSION.parent
SERVER_PACKAGE = REPO / "server" / "ckptlens"
PYPROJECT = REPO / "pyproject.toml"
BUNDLED = EXTENSION / "bundled"
LIBS = BUNDLED / "libs"
NATIVE = BUNDLED / "native"
WHEELS = BUNDLED / "wheels"
CACHE = EXTENSION / ".cache"  # outside bundled/: never shipped
CACHE_WHEELS = CACHE / "wheels"
RESOLVED = CACHE / "resolved.json"
STAMPS = CACHE / "stamps"

# The CPython versions the server supports (pyproject's requires-python, up to the newest release
# libcst publishes wheels for). Each gets its own bundled/native/cp3XX.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# The one dependency with native code: bundled per platform and per CPython, without its
# dependencies (see the module docstring).
NATIVE_PACKAGE = "libcst"


class Platform:
    def __init__(self, tags: list[str], sys_platform: str, machine: str) -> None:
        self.tags = tags  # pip --platform tags; pip accepts a wheel matching any of them
        self.sys_platform = sys_platform
        self.machine = machine

    def markers(self, python: str) -> dict[str, str]:
        """The environment markers of CPython `python` on this platform."""
        return {
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "python_version": python,
            "python_full_version": f"{python}.0",
            "sys_platform": self.sys_platform,
            "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[
                self.sys_platform
            ],
            "os_name": "nt" if self.sys_platform == "win32" else "posix",
            "platform_machine": self.machine,
            "extra": "",
        }


# vsce target -> the wheels that run there. pip widens each tag to the older ones it implies
# (manylinux_2_28 takes manylinux2014 wheels, macosx_11_0 takes 10.x ones); the baselines are
# the ones VS Code itself needs (glibc 2.28, macOS 11).
PLATFORMS: dict[str, Platform] = {
    "linux-x64": Platform(["manylinux_2_28_x86_64"], "linux", "x86_64"),
    "linux-arm64": Platform(["manylinux_2_28_aarch64"], "linux", "aarch64"),
    "alpine-x64": Platform(["musllinux_1_2_x86_64"], "linux", "x86_64"),
    "alpine-arm64": Platform(["musllinux_1_2_aarch64"], "linux", "aarch64"),
    "darwin-x64": Platform(["macosx_11_0_x86_64"], "darwin", "x86_64"),
    "darwin-arm64": Platform(["macosx_11_0_arm64"], "darwin", "arm64"),
    "win32-x64": Platform(["win_amd64"], "win32", "AMD64"),
    "win32-arm64": Platform(["win_arm64"], "win32", "ARM64"),
}
# The platforms VS Code publishes builds for: CI packages and checks all of them.
RELEASE_TARGETS = (
    "win32-x64",
    "win32-arm64",
    "darwin-x64",
    "darwin-arm64",
    "alpine-x64",
    "linux-arm64",
    "linux-x64",
)

# Used when ../pyproject.toml cannot be read (Python < 3.11 has no tomllib).
FALLBACK_REQUIREMENTS = ["pygls>=2.0,<3", "lsprotocol>=2025.0.0", "libcst>=1.1"]

# Not needed at run time; dropped to keep the .vsix small.
PRUNE_DIRS = {"__pycache__", "tests", "bin"}


def log(message: str) -> None:
    print(f"[bundle_server] {message}", flush=True)


def fail(message: str) -> None:
    sys.exit(f"[bundle_server] {message}")


def requirements() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        return FALLBACK_REQUIREMENTS
    with PYPROJECT.open("rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def split_requirements(reqs: list[str]) -> tuple[list[str], str]:
    pure = [r for r in reqs if canonicalize_name(Requirement(r).name) != NATIVE_PACKAGE]
    native = [r for r in reqs if canonicalize_name(Requirement(r).name) == NATIVE_PACKAGE]
    if len(native) != 1:
        fail(f"expected one {NATIVE_PACKAGE} requirement in {PYPROJECT.name}, found {native}")
    return pure, native[0]


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


# -- downloading, with a cache ------------------------------------------------------------------


def pip(*args: str) -> None:
    """Runs pip; its output is shown only when it fails."""
    command = [sys.executable, "-m", "pip", *args]
    log(" ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        fail(f"pip failed with exit code {result.returncode}")


class Cache:
    """Wheels in .cache/wheels, and which wheels answered which download (.cache/resolved.json)."""

    def __init__(self) -> None:
        CACHE_WHEELS.mkdir(parents=True, exist_ok=True)
        try:
            self.resolved: dict[str, list[str]] = json.loads(RESOLVED.read_text())
        except (OSError, ValueError):
            self.resolved = {}

    def save(self) -> None:
        RESOLVED.write_text(json.dumps(self.resolved, indent=1, sort_keys=True) + "\n")

    def lookup(self, key: str) -> list[str] | None:
        names = self.resolved.get(key)
        if names and all((CACHE_WHEELS / n).is_file() for n in names):
            return names
        return None

    def download(self, args: list[str]) -> list[str]:
        """`pip download <args>`: the names of the wheels it chose (cached by `args`)."""
        key = json.dumps(args)
        names = self.lookup(key)
        if names is not None:
            return names
        with tempfile.TemporaryDirectory(prefix="ckptlens-download-") as tmp:
            pip(
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--dest",
                tmp,
                *args,
            )
            names = sorted(p.name for p in Path(tmp).iterdir())
            for name in names:
                shutil.copy2(Path(tmp) / name, CACHE_WHEELS / name)
        self.resolved[key] = names
        return names


def platform_args(target: str) -> list[str]:
    return [arg for tag in PLATFORMS[target].tags for arg in ("--platform", tag)]


def wheel_metadata(name: str) -> tuple[str, str, list[str]]:
    """(canonical name, version, Requires-Dist) of a cached wheel."""
    with zipfile.ZipFile(CACHE_WHEELS / name) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.BytesParser().parsebytes(archive.read(meta_name), headersonly=True)
    return (
        canonicalize_name(str(message["Name"])),
        str(message["Version"]),
        [str(r) for r in message.get_all("Requires-Dist") or []],
    )


def wheel_tags(name: str) -> list[str]:
    """The `python-abi-platform` tags of a wheel file name."""
    parts = name[: -len(".whl")].split("-")
    pythons, abis, platforms = parts[-3], parts[-2], parts[-1]
    return [
        f"{p}-{a}-{pl}"
        for p in pythons.split(".")
        for a in abis.split(".")
        for pl in platforms.split(".")
    ]


def resolve_pure(cache: Cache, target: str, reqs: list[str]) -> list[str]:
    """The pure-Python wheels `reqs` need on the target, under every supported CPython's markers.

    Downloaded without --platform (pure wheels fit every platform; pip evaluates markers for this
    machine either way), so all targets share one download; the markers of each target's
    platform and CPython are applied below.
    """
    names = set(cache.download(["--python-version", PYTHONS[0], *reqs]))
    while True:
        by_name = {wheel_metadata(n)[0]: n for n in names}
        missing: list[tuple[str, str]] = []
        for python in PYTHONS:
            env = PLATFORMS[target].markers(python)
            todo = [Requirement(r) for r in reqs]
            seen: set[str] = set()
            while todo:
                req = todo.pop()
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                key = canonicalize_name(req.name)
                if key in seen:
                    continue
                seen.add(key)
                if key not in by_name:
                    missing.append((python, str(req).split(";")[0]))
                    continue
                _, version, requires = wheel_metadata(by_name[key])
                if not req.specifier.contains(version, prereleases=True):
                    fail(f"{by_name[key]} does not satisfy {req} (needed on CPython {python})")
                todo.extend(Requirement(r) for r in requires)
        if not missing:
            break
        for python, req_text in sorted(set(missing)):
            args = ["--python-version", python, "--no-deps", req_text]
            if cache.lookup(json.dumps(args)) is None:
                log(f"{req_text} is needed on CPython {python}, not on the Python running pip")
            names |= set(cache.download(args))
    impure = [n for n in names if not all(t.endswith("-none-any") for t in wheel_tags(n))]
    if impure:
        fail(f"not pure Python (bundle them per CPython like {NATIVE_PACKAGE}): {impure}")
    return sorted(names)


def resolve_native(cache: Cache, target: str, req: str, python: str) -> str:
    """The wheel of `req` (libcst) for CPython `python` on the target."""
    names = cache.download([*platform_args(target), "--python-version", python, "--no-deps", req])
    if len(names) != 1:
        fail(f"expected one wheel for {req} on {target}, CPython {python}: {names}")
    tag = "cp" + python.replace(".", "")
    if not any(t.startswith(f"{tag}-{tag}-") for t in wheel_tags(names[0])):
        fail(f"{names[0]} is not a native wheel for CPython {python} ({target})")
    return names[0]


# -- assembling bundled/ --------------------------------------------------------------------------


def unpack(wheel: str, into: Path) -> None:
    """Installs a wheel as `pip install --target` would (only its importable files)."""
    with zipfile.ZipFile(CACHE_WHEELS / wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            parts = name.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not importable
                parts = parts[2:]
            if parts[0].endswith(".dist-info") and parts[-1] == "RECORD":
                continue
            destination = into.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out)


def prune(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in {".pyc", ".pyo"}:
            path.unlink()


def install_dependencies(target: str, pure: list[str], natives: dict[str, str]) -> None:
    stamp_file = STAMPS / "bundled.json"
    stamp = {"target": target, "pure": pure, "native": natives}
    try:
        current = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        current = None
    if current == stamp and all(
        (NATIVE / f"cp{p.replace('.', '')}" / NATIVE_PACKAGE).is_dir() for p in natives
    ):
        log("dependencies up to date in bundled/")
        return
    for folder in (LIBS, NATIVE):
        if folder.exists():
            shutil.rmtree(folder)
    LIBS.mkdir(parents=True)
    for wheel in pure:
        unpack(wheel, LIBS)
    for python, wheel in natives.items():
        unpack(wheel, NATIVE / f"cp{python.replace('.', '')}")
    prune(BUNDLED)
    STAMPS.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp, indent=2) + "\n")
    log(f"unpacked {len(pure)} shared wheels and {len(natives)} {NATIVE_PACKAGE} wheels")


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
    STAMPS.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    log(f"built {', '.join(p.name for p in WHEELS.glob('*.whl'))}")


def host_target() -> str | None:
    """The target this machine is, when it is one (for the import check)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if arch is None:
        return None
    if sys.platform.startswith("linux"):
        libc = platform.libc_ver()[0]
        return f"linux-{arch}" if libc == "glibc" else f"alpine-{arch}"
    return {"darwin": f"darwin-{arch}", "win32": f"win32-{arch}"}.get(sys.platform)


def bundle_path(python: str) -> str:
    """PYTHONPATH for CPython `python`, as the extension sets it."""
    return os.pathsep.join([str(NATIVE / f"cp{python.replace('.', '')}"), str(LIBS)])


def check_import() -> None:
    """On the target platform, the bundle must import without anything else in this Python."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running not in PYTHONS:
        log(f"skipping the import check: this is Python {running}")
        return
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        PYTHONPATH=bundle_path(running),
        PYTHONSAFEPATH="1",
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    script = (
        "import ckptlens, pygls, lsprotocol, libcst, libcst.native, libcst.metadata; "
        "libcst.parse_module('x = 1'); print(ckptlens.__file__, libcst.native.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-s", "-c", script],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
    )
    found = result.stdout.split()
    if result.returncode != 0 or not all(f.startswith(str(BUNDLED)) for f in found) or not found:
        fail(f"the bundle does not import on its own:\n{result.stdout}{result.stderr}")
    log(f"import check passed with Python {running} ({' '.join(found)})")


def bundle(target: str, reqs: list[str], cache: Cache, *, wheel: bool = True) -> dict[str, Any]:
    pure_reqs, native_req = split_requirements(reqs)
    pure = resolve_pure(cache, target, pure_reqs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda p: resolve_native(cache, target, native_req, p), PYTHONS)
        natives = dict(zip(PYTHONS, found, strict=True))
    cache.save()
    install_dependencies(target, pure, natives)
    copy_server()
    if wheel:
        build_wheel()
    elif WHEELS.exists():
        shutil.rmtree(WHEELS)
    info: dict[str, Any] = {
        "target": target,
        "platform_tags": PLATFORMS[target].tags,
        "shared": pure,
        "pythons": {
            python: {"path": f"native/cp{python.replace('.', '')}", "wheel": name}
            for python, name in natives.items()
        },
    }
    (BUNDLED / "target.json").write_text(json.dumps(info, indent=2) + "\n")
    if host_target() == target:
        check_import()
    prune(BUNDLED)  # bytecode left by anything that ran the bundle in place
    return info


def prefetch(targets: list[str], reqs: list[str], cache: Cache) -> None:
    """Fills the cache for several targets at once (downloads overlap; nothing is unpacked)."""
    pure_reqs, native_req = split_requirements(reqs)
    for target in targets:
        resolve_pure(cache, target, pure_reqs)
    jobs = [(t, p) for t in targets for p in PYTHONS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda job: resolve_native(cache, job[0], native_req, job[1]), jobs))
    cache.save()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target", default="linux-x64", choices=sorted(PLATFORMS), help="as for vsce --target"
    )
    parser.add_argument("--no-wheel", action="store_true", help="skip building bundled/wheels")
    args = parser.parse_args()
    reqs = requirements()
    log(f"target {args.target}, CPython {', '.join(PYTHONS)}: {', '.join(reqs)}")
    bundle(args.target, reqs, Cache(), wheel=not args.no_wheel)


if __name__ == "__main__":
    main()
