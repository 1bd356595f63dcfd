#!/usr/bin/env python3
"""Checks what each platform's .vsix holds, without unpacking it (standard library only).

For every package: the manifest's TargetPlatform is the target its file name says; bundled/libs
holds the server and its pure-Python dependencies and no native code; bundled/native has one
folder per supported CPython (3.10-3.13), each with exactly one libcst wheel unpacked (its WHEEL
tag names that CPython and the target's platform) and one native library whose file name is the
one that CPython imports on that platform and whose header is the target's: ELF machine and C
library (glibc or musl) on Linux and Alpine, Mach-O CPU type on macOS, PE machine (and the
python3XX.dll it links) on Windows.

Usage: python3 scripts/check_vsix.py [--all] [VSIX ...]
    (no VSIX: every ckptlens-*.vsix beside package.json; --all: also require the seven targets)
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

EXTENSION = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
RELEASE_TARGETS = (
    "win32-x64",
    "win32-arm64",
    "darwin-x64",
    "darwin-arm64",
    "linux-x64",
    "linux-arm64",
    "alpine-x64",
)
PREFIX = "extension/bundled/"

ELF_MACHINES = {62: "x86_64", 183: "aarch64"}
MACHO_CPUS = {0x01000007: "x86_64", 0x0100000C: "arm64"}
PE_MACHINES = {0x8664: "AMD64", 0xAA64: "ARM64", 0x14C: "I386"}


@dataclass(frozen=True)
class Expected:
    """What a target's native library looks like."""

    format: str  # ELF, Mach-O, PE
    machine: str  # as ELF_MACHINES / MACHO_CPUS / PE_MACHINES name it
    libc: str | None  # ELF only: the C library it links (glibc: libc.so.6; musl: libc.musl-*)
    wheel_platform: str  # regex over the wheel's platform tag
    suffix: str  # a regex: the extension-module suffix, {v} = 310, 311, ...

    def file_name(self, python: str) -> str:
        """A regex for the file name of libcst's native module that CPython `python` imports."""
        suffix = self.suffix.replace("{v}", python.replace(".", ""))
        if python == "3.10":
            # CPython called its ABI `linux-gnu` on musl too before 3.11 (bpo-43112), so 3.10 on
            # Alpine imports *-linux-gnu.so; the C library is checked in the header instead.
            suffix = suffix.replace("linux-musl", "linux-gnu")
        return r"native" + suffix


EXPECTED: dict[str, Expected] = {
    "linux-x64": Expected(
        "ELF", "x86_64", "glibc", r"manylinux\w*_x86_64", r"\.cpython-{v}-x86_64-linux-gnu\.so"
    ),
    "linux-arm64": Expected(
        "ELF", "aarch64", "glibc", r"manylinux\w*_aarch64", r"\.cpython-{v}-aarch64-linux-gnu\.so"
    ),
    "alpine-x64": Expected(
        "ELF", "x86_64", "musl", r"musllinux_\d+_\d+_x86_64", r"\.cpython-{v}-x86_64-linux-musl\.so"
    ),
    "alpine-arm64": Expected(
        "ELF",
        "aarch64",
        "musl",
        r"musllinux_\d+_\d+_aarch64",
        r"\.cpython-{v}-aarch64-linux-musl\.so",
    ),
    "darwin-x64": Expected(
        "Mach-O", "x86_64", None, r"macosx_\d+_\d+_x86_64", r"\.cpython-{v}-darwin\.so"
    ),
    "darwin-arm64": Expected(
        "Mach-O", "arm64", None, r"macosx_\d+_\d+_arm64", r"\.cpython-{v}-darwin\.so"
    ),
    "win32-x64": Expected("PE", "AMD64", None, r"win_amd64", r"\.cp{v}-win_amd64\.pyd"),
    "win32-arm64": Expected("PE", "ARM64", None, r"win_arm64", r"\.cp{v}-win_arm64\.pyd"),
}
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


@dataclass
class Binary:
    format: str
    machines: list[str]  # one, or several for a macOS universal binary
    bits: int = 64
    needed: list[str] = field(default_factory=list)  # ELF DT_NEEDED, PE imported DLLs


def read_elf(data: bytes) -> Binary:
    bits = {1: 32, 2: 64}[data[4]]
    endian = {1: "<", 2: ">"}[data[5]]
    (machine,) = struct.unpack_from(endian + "H", data, 18)
    if bits == 64:
        (shoff,) = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
        section = endian + "IIQQQQIIQQ"
    else:
        (shoff,) = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
        section = endian + "IIIIIIIIII"
    sections = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]
        entry = endian + ("qQ" if bits == 64 else "iI")
        for i in range(size // entsize):
            tag, value = struct.unpack_from(entry, data, offset + i * entsize)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab_offset + value)
                needed.append(data[strtab_offset + value : end].decode())
    return Binary("ELF", [ELF_MACHINES.get(machine, f"elf-machine-{machine}")], bits, needed)


def read_macho(data: bytes) -> Binary:
    magic = data[:4]
    if magic == b"\xca\xfe\xba\xbe":  # universal ("fat"), big-endian
        (count,) = struct.unpack_from(">I", data, 4)
        cpus = [struct.unpack_from(">i", data, 8 + 20 * i)[0] for i in range(count)]
        return Binary("Mach-O", [MACHO_CPUS.get(c & 0xFFFFFFFF, hex(c)) for c in cpus])
    bits = 64 if magic == b"\xcf\xfa\xed\xfe" else 32
    (cpu,) = struct.unpack_from("<I", data, 4)
    return Binary("Mach-O", [MACHO_CPUS.get(cpu, hex(cpu))], bits)


def read_pe(data: bytes) -> Binary:
    (pe_offset,) = struct.unpack_from("<I", data, 0x3C)
    if data[pe_offset : pe_offset + 4] != b"PE\0\0":
        raise ValueError("MZ header without a PE signature")
    (machine,) = struct.unpack_from("<H", data, pe_offset + 4)
    (optional_magic,) = struct.unpack_from("<H", data, pe_offset + 24)
    # Imported DLL names, found by their text (the import table's names are plain ASCII).
    needed = sorted({m.decode().lower() for m in re.findall(rb"[A-Za-z0-9_.-]+\.dll", data)})
    bits = 64 if optional_magic == 0x20B else 32
    return Binary("PE", [PE_MACHINES.get(machine, hex(machine))], bits, needed)


def read_binary(data: bytes) -> Binary:
    if data[:4] == b"\x7fELF":
        return read_elf(data)
    if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return read_macho(data)
    if data[:2] == b"MZ":
        return read_pe(data)
    raise ValueError("not an ELF, Mach-O or PE file")


def manifest_target(archive: zipfile.ZipFile) -> str | None:
    text = archive.read("extension.vsixmanifest").decode("utf-8")
    match = re.search(r'<Identity\b[^>]*\bTargetPlatform="([^"]+)"', text)
    return match.group(1) if match else None


def check(vsix: Path) -> tuple[str, list[str], str]:
    """(target, problems, one-line summary) for one package."""
    problems: list[str] = []
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        target = manifest_target(archive)
        match = re.fullmatch(r"ckptlens-(.+)-\d+\.\d+\.\d+\.vsix", vsix.name)
        if target is None:
            return "?", ["extension.vsixmanifest names no TargetPlatform"], ""
        if match is None or match.group(1) != target:
            problems.append(f"file name {vsix.name} does not name its TargetPlatform {target}")
        if target not in EXPECTED:
            return target, [*problems, f"unknown target {target}"], ""
        expected = EXPECTED[target]
        info = json.loads(archive.read(PREFIX + "target.json"))
        if info.get("target") != target:
            problems.append(f"bundled/target.json says {info.get('target')}, the manifest {target}")
        for required in (
            "libs/ckptlens/__init__.py",
            "libs/pygls/__init__.py",
            "libs/lsprotocol/__init__.py",
        ):
            if PREFIX + required not in names:
                problems.append(f"missing bundled/{required}")
        if not any(
            re.fullmatch(PREFIX + r"wheels/ckptlens-[^/]+-py3-none-any\.whl", n) for n in names
        ):
            problems.append("no server wheel in bundled/wheels (the install fallback)")
        if "extension/dist/extension.js" not in names:
            problems.append("missing dist/extension.js")
        strays = [
            n
            for n in names
            if n.startswith(PREFIX)
            and n.endswith(NATIVE_SUFFIXES)
            and not n.startswith(PREFIX + "native/")
        ]
        if strays:
            problems.append(f"native code outside bundled/native: {sorted(strays)}")
        folders = {
            n[len(PREFIX + "native/") :].split("/")[0]
            for n in names
            if n.startswith(PREFIX + "native/")
        }
        wanted = {"cp" + p.replace(".", "") for p in PYTHONS}
        if folders != wanted:
            problems.append(f"bundled/native holds {sorted(folders)}, expected {sorted(wanted)}")
        versions = set()
        machines = set()
        size = 0
        for python in PYTHONS:
            tag = "cp" + python.replace(".", "")
            folder = f"{PREFIX}native/{tag}/"
            wheel_files = sorted(
                n for n in names if n.startswith(folder) and n.endswith(".dist-info/WHEEL")
            )
            if len(wheel_files) != 1 or not wheel_files[0].startswith(folder + "libcst-"):
                problems.append(f"{tag}: expected one libcst wheel, found {wheel_files}")
            else:
                versions.add(wheel_files[0][len(folder + "libcst-") :].split(".dist-info")[0])
                tags = [
                    line.split(":", 1)[1].strip()
                    for line in archive.read(wheel_files[0]).decode().splitlines()
                    if line.startswith("Tag:")
                ]
                good = [
                    t for t in tags if re.fullmatch(rf"{tag}-{tag}-{expected.wheel_platform}", t)
                ]
                if not tags or len(good) != len(tags):
                    problems.append(
                        f"{tag}: the libcst wheel's tags {tags} are not CPython {python} on {target}"
                    )
            libraries = sorted(
                n for n in names if n.startswith(folder + "libcst/") and n.endswith(NATIVE_SUFFIXES)
            )
            pattern = re.escape(folder + "libcst/") + expected.file_name(python)
            if len(libraries) != 1 or not re.fullmatch(pattern, libraries[0]):
                problems.append(
                    f"{tag}: expected exactly one file matching {pattern}, found {libraries}"
                )
            if len(libraries) != 1:
                continue
            wanted_name = libraries[0]
            data = archive.read(wanted_name)
            size += len(data)
            try:
                binary = read_binary(data)
            except (ValueError, struct.error, KeyError, IndexError) as error:
                problems.append(f"{wanted_name}: unreadable header ({error})")
                continue
            machines.update(binary.machines)
            if binary.format != expected.format or binary.bits != 64:
                problems.append(
                    f"{wanted_name}: a {binary.bits}-bit {binary.format} file, expected 64-bit {expected.format}"
                )
            if binary.machines != [expected.machine]:
                problems.append(
                    f"{wanted_name}: built for {binary.machines}, expected {expected.machine}"
                )
            if expected.libc == "glibc" and (
                "libc.so.6" not in binary.needed or any("musl" in n for n in binary.needed)
            ):
                problems.append(f"{wanted_name}: not linked to glibc (needs {binary.needed})")
            if expected.libc == "musl" and not any(
                n.startswith("libc.musl-") for n in binary.needed
            ):
                problems.append(f"{wanted_name}: not linked to musl (needs {binary.needed})")
            if expected.format == "PE" and f"python{tag[2:]}.dll" not in binary.needed:
                problems.append(
                    f"{wanted_name}: does not link python{tag[2:]}.dll (links {binary.needed})"
                )
    summary = (
        f"{vsix.name}: {target}, libcst {'/'.join(sorted(versions))} for CPython {', '.join(PYTHONS)}, "
        f"{expected.format} {'/'.join(sorted(machines))}"
        f"{f' ({expected.libc})' if expected.libc else ''}, {vsix.stat().st_size / 1e6:.1f} MB"
    )
    return target, problems, summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("vsix", nargs="*", type=Path)
    parser.add_argument(
        "--all", action="store_true", help="require a package for each of the seven targets"
    )
    args = parser.parse_args()
    packages = args.vsix or sorted(EXTENSION.glob("ckptlens-*.vsix"))
    failed = False
    seen: dict[str, Path] = {}
    for vsix in packages:
        target, problems, summary = check(vsix)
        seen[target] = vsix
        if problems:
            failed = True
            print(f"check_vsix: {vsix.name}:", *problems, sep="\n  ", file=sys.stderr)
        else:
            print(f"check_vsix: ok  {summary}")
    missing = [t for t in RELEASE_TARGETS if t not in seen] if args.all else []
    if missing:
        failed = True
        print(f"check_vsix: no package for {', '.join(missing)}", file=sys.stderr)
    if not packages:
        print("check_vsix: no ckptlens-*.vsix found", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
