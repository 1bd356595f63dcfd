"""Checkpoint indexing vs torch.load on a large checkpoint. Run by hand, not a test:

    python benchmarks/bench_checkpoint.py [--gib 2] [--tensors 1024] [--out benchmarks/out] [--keep] [--reuse] [--cold]

Writes a torch zip checkpoint and the same tensors as safetensors (>= --gib GiB each, --tensors
weights plus one bias per 5 weights), then measures each reader in a fresh subprocess: wall
time of the read alone (imports excluded, so torch is not charged for its import), peak RSS
(`ru_maxrss`, imports included) and the bytes the process read during it (`rchar` from
/proc/self/io); CPU time too, since wall time on a shared machine measures the neighbours. The
files sit in the page cache after being written, which favours torch.load.
Targets: ckptlens >= 100x faster than torch.load(weights_only=True), ckptlens peak RSS < 100 MB,
and for safetensors not a byte read past the header.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GENERATE = """
import sys, torch
from safetensors.torch import save_file
out, gib, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rows = max(1, int(gib * 2**30 / count / (1024 * 4)) + 1)
state = {}
for i in range(count):
    state[f"layers.{i}.weight"] = torch.zeros(rows, 1024)
    if i % 5 == 0:
        state[f"layers.{i}.bias"] = torch.zeros(rows)
torch.save(state, f"{out}/big.pt")
save_file(state, f"{out}/big.safetensors")
print(len(state))
"""

CHILD = """
import json, resource, sys, time
def rchar():
    with open("/proc/self/io", "rb") as fh:
        for line in fh.read().splitlines():
            if line.startswith(b"rchar:"):
                return int(line.split()[1])
path = sys.argv[1]
{setup}
base0 = rchar(); base1 = rchar(); proc_cost = base1 - base0   # what reading /proc/self/io costs
r0 = rchar(); c0 = time.process_time(); t0 = time.perf_counter()
{operation}
t1 = time.perf_counter(); c1 = time.process_time(); r1 = rchar()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": t1 - t0, "cpu": c1 - c0, "peak_mb": peak, "read": r1 - r0 - proc_cost,
                  "tensors": n}}))
"""

READERS = {
    "ckptlens index (torch zip)": (
        "big.pt",
        "from ckptlens.checkpoint.reader import read_checkpoint",
        "n = len(read_checkpoint(path).tensors)",
    ),
    "ckptlens index (safetensors)": (
        "big.safetensors",
        "from ckptlens.checkpoint.reader import read_checkpoint",
        "n = len(read_checkpoint(path).tensors)",
    ),
    "torch.load(weights_only=True)": (
        "big.pt",
        "import torch",
        "n = len(torch.load(path, weights_only=True, map_location='cpu'))",
    ),
    "torch.load(mmap=True, weights_only=True)": (
        "big.pt",
        "import torch",
        "n = len(torch.load(path, mmap=True, weights_only=True, map_location='cpu'))",
    ),
    "safetensors safe_open (keys + shapes)": (
        "big.safetensors",
        "from safetensors import safe_open",
        "f = safe_open(path, 'np')\nn = len([f.get_slice(k).get_shape() for k in f.keys()])",
    ),
}


@dataclass(frozen=True)
class Measure:
    wall: float
    cpu: float
    peak_mb: float
    read: int
    tensors: int


def drop_from_page_cache(path: Path) -> None:
    """Evict our own file's clean pages, so the next read comes from disk (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(name: str, folder: Path, repeats: int, cold: bool) -> Measure:
    filename, setup, operation = READERS[name]
    code = CHILD.format(setup=setup, operation=operation)
    runs = []
    for _ in range(repeats):
        if cold:
            drop_from_page_cache(folder / filename)
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder / filename)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return Measure(
        wall=statistics.median(r["wall"] for r in runs),
        cpu=statistics.median(r["cpu"] for r in runs),
        peak_mb=max(r["peak_mb"] for r in runs),
        read=max(r["read"] for r in runs),
        tensors=runs[0]["tensors"],
    )


def generate(folder: Path, gib: float, tensors: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", GENERATE, str(folder), str(gib), str(tensors)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def _header(path: Path) -> tuple[int, dict[str, object]]:
    # Only the header: this process must stay small, since a child started with vfork + exec
    # inherits the parent's peak RSS into its own ru_maxrss.
    with open(path, "rb") as fh:
        length = struct.unpack("<Q", fh.read(8))[0]
        return 8 + length, json.loads(fh.read(length))


def _count(folder: Path) -> int:
    _, header = _header(folder / "big.safetensors")
    return len([k for k in header if k != "__metadata__"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--tensors", type=int, default=1024, help="weights (biases are added)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse big.pt/big.safetensors in --out"
    )
    parser.add_argument(
        "--cold", action="store_true", help="drop the files from the page cache before each run"
    )
    args = parser.parse_args()

    folder = args.out or Path(tempfile.mkdtemp(prefix="ckptlens-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        reuse = (
            args.reuse and (folder / "big.pt").exists() and (folder / "big.safetensors").exists()
        )
        count = _count(folder) if reuse else generate(folder, args.gib, args.tensors)
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
        print(
            f"{count} tensors; " + ", ".join(f"{n}: {s / 2**30:.2f} GiB" for n, s in sizes.items())
        )
        print(
            "page cache:", "dropped before each run" if args.cold else "warm (files just written)"
        )
        results = {name: measure(name, folder, args.repeats, args.cold) for name in READERS}
        header_end, _ = _header(folder / "big.safetensors")
        report(results, header_end, count)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def report(results: dict[str, Measure], header_end: int, count: int) -> None:
    width = max(len(n) for n in results)
    print(
        f"\n{'reader'.ljust(width)}  {'wall':>10}  {'CPU':>10}  {'peak RSS':>9}  {'bytes read':>14}  tensors"
    )
    for name, m in results.items():
        print(
            f"{name.ljust(width)}  {m.wall * 1000:>8.1f}ms  {m.cpu * 1000:>8.1f}ms  {m.peak_mb:>7.1f}MB"
            f"  {m.read:>14,}  {m.tensors}"
        )
    zip_ = results["ckptlens index (torch zip)"]
    st = results["ckptlens index (safetensors)"]
    full = results["torch.load(weights_only=True)"]
    mapped = results["torch.load(mmap=True, weights_only=True)"]
    print()
    print(
        f"torch.load / ckptlens (zip):         {full.wall / zip_.wall:,.0f}x wall, "
        f"{full.cpu / zip_.cpu:,.0f}x CPU"
    )
    print(f"torch.load(mmap) / ckptlens (zip):   {mapped.wall / zip_.wall:,.0f}x")
    print(
        f"torch.load / ckptlens (safetensors): {full.wall / st.wall:,.0f}x wall, "
        f"{full.cpu / st.cpu:,.0f}x CPU"
    )
    print(f"safetensors header ends at byte {header_end:,}; ckptlens read {st.read:,} bytes")
    checks = {
        ">= 100x faster than torch.load(weights_only=True)": full.wall / zip_.wall >= 100,
        "ckptlens peak RSS < 100 MB": max(zip_.peak_mb, st.peak_mb) < 100,
        "safetensors: no byte read past the header": st.read <= header_end,
        "same tensor count as torch.load": zip_.tensors == st.tensors == full.tensors == count,
    }
    for what, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")


if __name__ == "__main__":
    raise SystemExit(main())
