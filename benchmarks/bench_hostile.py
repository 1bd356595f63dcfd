"""Hostile inputs against the CLI's bounds. Run by hand, not a test:

    python benchmarks/bench_hostile.py [--out benchmarks/out] [--keep] [--skip-gib]

For the worst input of each family of issue 13 (memory amplification in the unpickler, zip
bombs, quadratic shapes, shard spellings, special files, ambiguous containers, huge headers,
deep nesting) it writes the file, runs `ckptlens inspect --format json` on it in a fresh
process and reports wall time, CPU time and peak RSS (`ru_maxrss` from `wait4`, imports
included) against the targets: every input answered within 10 s and 500 MB, one line on
stderr when refused. Each run also gets a hard cap (RLIMIT_AS 1 GiB, 60 s) so a regression
shows as a failure instead of swapping the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

TIME_TARGET = 10.0  # s
RSS_TARGET = 500  # MB
HARD_AS = 1 << 30
HARD_TIME = 60

STORAGE_TENSOR = (
    b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
    b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x04\x85K\x01\x85\x89"
    b"ccollections\nOrderedDict\n)RtR"
)


def _zip(path: Path, pickle: bytes, storages: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("archive/data.pkl", pickle)
        out.writestr("archive/version", "3\n")
        for key, size in (storages or {}).items():
            out.writestr(f"archive/data/{key}", bytes(size))
    return path


def _around(entry: bytes) -> bytes:
    return b"\x80\x02}(X\x01\x00\x00\x00w" + STORAGE_TENSOR + b"X\x01\x00\x00\x00x" + entry + b"u."


# --- the families: name -> builder(folder) -> path (or argv for the CLI) ----------------------


def many_tensors(folder: Path) -> Path:
    """The largest accepted: 85,000 tensors (views of one storage), as torch.save writes them
    (protocol 2, memoised globals and strings): close to the unpickler's memory cap."""
    parts = [b"\x80\x02}q\x00(" ]
    memo = 1
    for i in range(85_000):
        key = f"model.layers.{i // 10}.mlp.experts.{i % 10}.weight".encode()
        parts.append(b"X" + struct.pack("<I", len(key)) + key + b"r" + struct.pack("<I", memo))
        memo += 1
        parts.append(STORAGE_TENSOR.replace(b"tR", b"tRr" + struct.pack("<I", memo), 1))
        memo += 1
    parts.append(b"u.")
    return _zip(folder / "many.pt", b"".join(parts), {"0": 16})


def bytearray_copies(folder: Path) -> Path:
    blob = b"B" + struct.pack("<I", 256 * 1024) + bytes(256 * 1024) + b"q\x01"
    pickle = b"\x80\x02" + blob + b"0" + b"cbuiltins\nbytearray\nh\x01\x85R0" * 6000 + b"N."
    return _zip(folder / "copies.pt", pickle)


def memo_dicts(folder: Path) -> Path:
    return _zip(folder / "memo.pt", b"\x80\x04]" + b"}\x940" * 3_300_000 + b".")


def list_flood(folder: Path) -> Path:
    """Nine million empty lists appended to one list: the cap on work, not on memo."""
    return _zip(folder / "lists.pt", b"\x80\x02]" + b"]a" * 4_900_000 + b".")


def deflate_bomb_gib(folder: Path) -> Path:
    """The issue's case: a deflated 1 GiB data.pkl at ~28x (under the 100x ratio cap)."""
    path = folder / "bomb.pt"
    rng = random.Random(13)
    chunk = 64 << 20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        with out.open("archive/data.pkl", "w", force_zip64=True) as member:
            member.write(b"\x80\x02B" + struct.pack("<I", (1 << 30) - 16))
            for _ in range(16):
                body = bytearray(chunk)
                body[::40] = rng.randbytes(len(range(0, chunk, 40)))
                member.write(body)
        out.writestr("archive/version", "3\n")
    return path


def safetensors_many_dims(folder: Path) -> Path:
    header = {"t": {"dtype": "U8", "shape": [2] * 200_000, "data_offsets": [0, 1]}}
    raw = json.dumps(header).encode()
    path = folder / "dims.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00")
    return path


def safetensors_huge_header(folder: Path) -> Path:
    """A header just under the cap: ~160,000 one-byte tensors, each parsed into objects."""
    entries = []
    size = 0
    i = 0
    while size < (10 << 20) - 100:
        entry = f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}'
        entries.append(entry)
        size += len(entry) + 1
        i += 1
    raw = ("{" + ",".join(entries) + "}").encode()
    path = folder / "header.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(i))
    return path


def stride0_dims(folder: Path) -> Path:
    dims = 12_000
    ops = (
        b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00"
        + b"(" + b"J\xff\xff\xff\x7f" * dims + b"t"
        + b"(" + b"K\x00" * dims + b"t"
        + b"\x89ccollections\nOrderedDict\n)RtR"
    )
    return _zip(folder / "stride0.pt", b"\x80\x02}(X\x01\x00\x00\x00w" + ops + b"u.", {"0": 16})


def shard_spellings(folder: Path) -> Path:
    import torch

    shard = folder / "shards"
    shard.mkdir()
    torch.save({"w": torch.zeros(2)}, shard / "a.bin")
    weight_map = {f"k{i}": "./" * i + "a.bin" for i in range(300)} | {"w": "a.bin"}
    (shard / "model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return shard


def deep_marks(folder: Path) -> Path:
    return _zip(folder / "marks.pt", b"\x80\x02" + b"(" * 2_000_000 + b".")


def deep_lists(folder: Path) -> Path:
    return _zip(folder / "nested.pt", b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".")


def big_ints(folder: Path) -> Path:
    long = b"\x8b" + struct.pack("<i", 1000) + b"\x7f" * 1000
    return _zip(folder / "ints.pt", _around(b"(" + long * 20_000 + b"l"))


def polyglot(folder: Path) -> Path:
    import hostile_corpus as hc

    return hc.safetensors_pickle_polyglot(folder / "poly.bin", folder / "SENTINEL")


def duplicate_members(folder: Path) -> Path:
    import hostile_corpus as hc

    return hc.duplicate_data_pkl(folder / "dup.pt", folder / "SENTINEL")


def entry_flood(folder: Path) -> Path:
    """300,000 members (the cap), each with a valid local header: every one is checked."""
    import zlib

    path = folder / "flood.pt"
    local, central = bytearray(), bytearray()
    members = [("archive/data.pkl", _around(b"N")), ("archive/version", b"3\n"), ("archive/data/0", bytes(16))]
    members += [(f"archive/x/{i}", b"") for i in range(300_000 - len(members))]
    for name, data in members:
        raw = name.encode()
        crc = zlib.crc32(data)
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(raw),
            0, 0, 0, 0, 0, len(local),
        ) + raw
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(raw), 0)
        local += raw + data
    count, cd_at, z64_at = len(members), len(local), len(local) + len(central)
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), cd_at)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, z64_at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(local + central + z64 + locator + end))
    return path


def fifo(folder: Path) -> Path:
    path = folder / "pipe"
    os.mkfifo(path)
    return path


FAMILIES: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "accepted: 85,000 tensors in one torch zip": ("accepted", many_tensors),
    "unpickler memory: bytearray(blob) x 6,000": ("memory", bytearray_copies),
    "unpickler memory: 3.3 M memoised dicts": ("memory", memo_dicts),
    "unpickler work: 4.9 M appended lists": ("memory", list_flood),
    "zip bomb: 1 GiB data.pkl at ~28x": ("zip", deflate_bomb_gib),
    "quadratic: safetensors 200k dims": ("shape", safetensors_many_dims),
    "quadratic: stride-0, 12,000 huge dims": ("shape", stride0_dims),
    "header: 10 MiB safetensors header": ("header", safetensors_huge_header),
    "shards: 300 spellings of one file": ("shards", shard_spellings),
    "nesting: 2 M MARKs": ("nesting", deep_marks),
    "nesting: 100k nested lists": ("nesting", deep_lists),
    "numbers: 20,000 8,000-bit ints": ("numbers", big_ints),
    "ambiguous: safetensors + pickle polyglot": ("container", polyglot),
    "ambiguous: duplicate data.pkl": ("container", duplicate_members),
    "zip: 300,000 members": ("zip", entry_flood),
    "special file: FIFO checkpoint": ("special", fifo),
}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (HARD_AS, HARD_AS))


def measure(path: Path) -> dict[str, object]:
    argv = [sys.executable, "-m", "ckptlens", "inspect", str(path), "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        preexec_fn=_limits, env=env,
    )
    try:
        out, err = proc.communicate(timeout=HARD_TIME)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    # communicate() reaped the child; its rusage is the children's total since the last call
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # only this child: see main()
    verdict = "?"
    if proc.returncode == 0:
        verdict = json.loads(out)["safety"]["verdict"]
    elif proc.returncode == 2:
        verdict = "refused"
    return {
        "exit": proc.returncode,
        "verdict": verdict,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "message": err.decode(errors="replace").strip()[:120],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--skip-gib", action="store_true", help="skip the 1 GiB zip bomb")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_hostile_", dir=args.out))
    rows = []
    try:
        for name, (family, build) in FAMILIES.items():
            if args.skip_gib and build is deflate_bomb_gib:
                continue
            sub = folder / f"case{len(rows)}"
            sub.mkdir()
            path = build(sub)
            size = sum(p.stat().st_size for p in [path, *path.rglob("*")] if p.is_file()) if path.exists() else 0
            # ru_maxrss of RUSAGE_CHILDREN is a maximum over all children: measure each input
            # in its own grandchild so earlier ones do not mask it.
            result = json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--measure-one", str(path)],
                    capture_output=True, text=True, check=True,
                ).stdout
            )
            within = result["wall_s"] <= TIME_TARGET and result["peak_rss_mb"] <= RSS_TARGET
            rows.append({"family": family, "input": name, "bytes": size, **result, "within": within})
            print(
                f"{name:44s} {size / 2**20:9.1f} MiB  exit {result['exit']}  {result['verdict']:11s} "
                f"{result['wall_s']:6.2f} s (cpu {result['cpu_s']:5.2f})  {result['peak_rss_mb']:7.1f} MB  "
                f"{'ok' if within else 'OVER'}  {result['message'][:70]}",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    worst_time = max(r["wall_s"] for r in rows)
    worst_cpu = max(r["cpu_s"] for r in rows)
    worst_rss = max(r["peak_rss_mb"] for r in rows)
    load = os.getloadavg()[0]
    print(
        f"\nworst: {worst_time:.2f} s wall, {worst_cpu:.2f} s CPU (target {TIME_TARGET} s), "
        f"{worst_rss:.1f} MB (target {RSS_TARGET} MB); load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    return 0 if all(r["within"] for r in rows) else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure-one":
        print(json.dumps(measure(Path(sys.argv[2]))))
        raise SystemExit(0)
    raise SystemExit(main())
