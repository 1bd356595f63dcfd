"""`map --write` on a large checkpoint against the torch route. Run by hand, not a test:

    python benchmarks/bench_write.py [--gib 2] [--tensors 1024] [--repeats 3] [--out DIR] [--keep] [--reuse]

Writes a torch zip checkpoint saved through `DataParallel` (every key under `module.`), >= --gib
GiB, plus the model's source, then measures in fresh subprocesses, each writing the remapped
checkpoint as safetensors:

- `ckptlens writer`: `write_safetensors` with the mapping (the `module.` prefix stripped);
- `ckptlens map --write`: the whole command (analysis of the class, check, write);
- `torch route`: `torch.load(weights_only=True)`, strip the prefix, `safetensors.torch.save_file`.

Wall time of the operation (imports excluded, so torch is not charged for its import), CPU time,
and peak RSS (`ru_maxrss`, imports included). Every output is compared with the torch route's
by its SHA-256 of the tensor bytes per key, so the routes are known to write the same tensors.
The source file sits in the page cache after being written, which favours neither route.
Targets: ckptlens peak RSS <= 100 MB whatever the size, wall time <= the torch route's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GENERATE = """
import sys, torch
out, gib, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rows = max(1, int(gib * 2**30 / count / (1024 * 4)) + 1)
gen = torch.Generator().manual_seed(0)
state = {}
for i in range(count):
    state[f"module.layers.{i}.weight"] = torch.randn(rows, 1024, generator=gen)
    if i % 5 == 0:
        state[f"module.layers.{i}.bias"] = torch.randn(rows, generator=gen)
torch.save(state, f"{out}/big.pt")
print(rows)
"""

MODEL = '''
from torch import nn


class Big(nn.Module):
    def __init__(self, count: int = {count}, rows: int = {rows}) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(1024, rows, bias=i % 5 == 0) for i in range(count)])
'''

CHILD = """
import json, resource, sys, time
path, out = sys.argv[1], sys.argv[2]
{setup}
c0 = time.process_time(); t0 = time.perf_counter()
{operation}
t1 = time.perf_counter(); c1 = time.process_time()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": t1 - t0, "cpu": c1 - c0, "peak_mb": peak}}))
"""

ROUTES = {
    "ckptlens writer": (
        "from ckptlens.checkpoint.writer import plan_source, write_safetensors",
        "plan = plan_source(path)\n"
        "write_safetensors(path, out, plan=plan, mapping={k: k.removeprefix('module.') for k in plan.tensors})",
    ),
    "ckptlens map --write": (
        "from ckptlens.cli import main",
        "import os\n"
        "rc = main(['map', os.path.join(os.path.dirname(path), 'big_model.py'), '--class', 'Big', "
        "'--checkpoint', path, '--write', out, '--format', 'text'])\n"
        "assert rc in (0, 1), rc",
    ),
    "torch route": (
        "import torch\nfrom safetensors.torch import save_file",
        "sd = torch.load(path, weights_only=True, map_location='cpu')\n"
        "sd = {k.removeprefix('module.'): v for k, v in sd.items()}\n"
        "save_file(sd, out)",
    ),
}


def run(route: str, folder: Path, repeats: int) -> dict[str, float]:
    setup, operation = ROUTES[route]
    code = CHILD.format(setup=setup, operation=operation)
    out = folder / f"{route.replace(' ', '_').replace('-', '')}.safetensors"
    runs = []
    for _ in range(repeats):
        out.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-c", code, str(folder / "big.pt"), str(out)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{route} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "digest": digest(out),  # type: ignore[dict-item]
    }


def digest(path: Path) -> str:
    """SHA-256 over (key, dtype, shape, bytes) in key order, read in 8 MiB steps."""
    with open(path, "rb") as fh:
        length = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(length))
        base = 8 + length
        h = hashlib.sha256()
        for key in sorted(k for k in header if k != "__metadata__"):
            entry = header[key]
            h.update(json.dumps([key, entry["dtype"], entry["shape"]]).encode())
            begin, end = entry["data_offsets"]
            fh.seek(base + begin)
            left = end - begin
            while left:
                chunk = fh.read(min(left, 8 << 20))
                h.update(chunk)
                left -= len(chunk)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--tensors", type=int, default=1024, help="weights (biases are added)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="reuse big.pt in --out")
    parser.add_argument("--routes", nargs="*", default=list(ROUTES), choices=list(ROUTES))
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="ckptlens-bench-write-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not (args.reuse and (folder / "big.pt").exists() and (folder / "big_model.py").exists()):
            proc = subprocess.run(
                [sys.executable, "-c", GENERATE, str(folder), str(args.gib), str(args.tensors)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rows = int(proc.stdout.strip().splitlines()[-1])
            (folder / "big_model.py").write_text(MODEL.format(count=args.tensors, rows=rows))
        size = (folder / "big.pt").stat().st_size
        print(f"big.pt: {size / 2**30:.2f} GiB, {args.tensors} weights (+1 bias per 5)")
        results = {route: run(route, folder, args.repeats) for route in args.routes}
        width = max(len(r) for r in results)
        print(f"\n{'route'.ljust(width)}  {'wall':>8}  {'CPU':>8}  {'peak RSS':>9}  same tensors")
        reference = results.get("torch route", {}).get("digest")
        for route, r in results.items():
            same = "-" if reference is None else ("yes" if r["digest"] == reference else "NO")
            print(
                f"{route.ljust(width)}  {r['wall']:7.2f}s  {r['cpu']:7.2f}s  {r['peak_mb']:6.0f} MB  {same}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
