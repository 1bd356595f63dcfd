#!/usr/bin/env python3
"""Packages one .vsix per platform VS Code publishes, then checks each one (scripts/check_vsix.py).

For each target, bundled/ is rebuilt for it (scripts/bundle_server.py: the shared pure-Python
libraries, libcst for CPython 3.10-3.13 on that platform, the server wheel) and
`vsce package --target <target>` writes ckptlens-<target>-<version>.vsix. linux-x64 goes last, so
bundled/ is left as the linux-x64 one (what the smoke test and F5 use on Linux).

Usage: python3 scripts/package_all.py [--target T ...]    (default: all seven)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundle_server  # noqa: E402
import check_vsix  # noqa: E402

EXTENSION = bundle_server.EXTENSION


def vsce() -> str:
    name = "vsce.cmd" if os.name == "nt" else "vsce"
    path = EXTENSION / "node_modules" / ".bin" / name
    if not path.exists():
        sys.exit(f"[package_all] {path} not found: run `npm ci` in {EXTENSION}")
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(bundle_server.PLATFORMS),
        help="package only this target (repeatable)",
    )
    args = parser.parse_args()
    targets = args.target or list(bundle_server.RELEASE_TARGETS)
    targets.sort(key=lambda t: t == "linux-x64")  # linux-x64 last
    reqs = bundle_server.requirements()
    cache = bundle_server.Cache()
    started = time.monotonic()
    bundle_server.prefetch(targets, reqs, cache)
    fetched = time.monotonic()
    print(f"[package_all] wheels ready in {fetched - started:.1f} s", flush=True)
    packages = []
    for target in targets:
        began = time.monotonic()
        bundle_server.bundle(target, reqs, cache)
        version = subprocess.run(
            ["node", "-p", "require('./package.json').version"],
            cwd=EXTENSION,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        out = EXTENSION / f"ckptlens-{target}-{version}.vsix"
        out.unlink(missing_ok=True)
        subprocess.run(
            [vsce(), "package", "--target", target, "--no-dependencies", "--out", str(out)],
            cwd=EXTENSION,
            check=True,
        )
        packages.append(out)
        print(
            f"[package_all] {out.name}: {out.stat().st_size / 1e6:.1f} MB "
            f"in {time.monotonic() - began:.1f} s",
            flush=True,
        )
    print(
        f"[package_all] {len(packages)} packages in {time.monotonic() - started:.1f} s "
        f"(downloads {fetched - started:.1f} s)",
        flush=True,
    )
    failed = False
    for vsix in packages:
        _target, problems, summary = check_vsix.check(vsix)
        if problems:
            failed = True
            print(f"[package_all] {vsix.name}:", *problems, sep="\n  ", file=sys.stderr)
        else:
            print(f"[package_all] checked {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
