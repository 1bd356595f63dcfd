"""Huge checkpoints, local and remote, by headers only. Run by hand, not a test:

    python benchmarks/bench_remote.py [--shards 200] [--tb 1.0] [--zip-gb 100] [--runs 5] [--keep DIR]

Builds, as sparse files under a temporary folder in /tmp (deleted afterwards):
- a sharded safetensors checkpoint of ~1 TB in 200 shards (a 512-layer transformer's tensors in
  bf16): each shard's header written, its data region a hole of the right length;
- a torch zip of ~100 GB built by hand: a real pickle (`torch._utils._rebuild_tensor_v2`,
  `BFloat16Storage` persistent ids, as torch.save writes it), a real zip64 central directory,
  stored `data/N` members whose bytes are holes (their CRCs are not computed: nothing reads them).
Then, each in a fresh process: the local index (wall time of the read, peak RSS, bytes the
process read from `rchar`), the same through the local Hub stand-in (`HF_ENDPOINT`; the bytes
the server sent, counted on its side), `ckptlens check model.py --class Big --checkpoint
hf://bench/llm-1t`, cold (empty cache) and warm, and the workspace check (`ckptlens check` in a
project whose code calls `Big.from_pretrained("bench/llm-1t")`, as CI and pre-commit run it),
cold and warm, p50 over --runs. The obvious alternative,
downloading or reading the whole files, moves the total size: every ratio is against that.
Targets: local 1 TB index <= 1 s and <= 100 MB RSS; over HTTP <= 3 s with <= 0.01 % of the
bytes; remote check p50 <= 2 s cold, <= 300 ms warm (the read of the checkpoint; the whole CLI
run, start-up and the static analysis of the 512-layer class included, is printed beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "server"))

from hub_standin import HubStandIn, Repo  # noqa: E402

D, FF, VOCAB = 8192, 28672, 128256
BF16 = 2

MODEL = f'''
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d: int = {D}, ff: int = {FF}):
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.gate = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)


class Big(nn.Module):
    def __init__(self, vocab: int = {VOCAB}, d: int = {D}, n_layers: int = 512):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Block(d) for _ in range(n_layers)])
        self.head = nn.Linear(d, vocab, bias=False)
'''

# --- the sharded safetensors checkpoint -------------------------------------------------------


def transformer_tensors(layers: int) -> list[tuple[str, list[int]]]:
    out = [("embed.weight", [VOCAB, D])]
    for i in range(layers):
        for name in ("q", "k", "v", "o"):
            out.append((f"layers.{i}.{name}.weight", [D, D]))
        out.append((f"layers.{i}.up.weight", [FF, D]))
        out.append((f"layers.{i}.gate.weight", [FF, D]))
        out.append((f"layers.{i}.down.weight", [D, FF]))
    out.append(("head.weight", [VOCAB, D]))
    return out


def nbytes(shape: list[int]) -> int:
    n = BF16
    for d in shape:
        n *= d
    return n


def pack(tensors: list[tuple[str, list[int]]], shards: int) -> list[list[tuple[str, list[int]]]]:
    """Contiguous groups of about equal bytes: a tensor goes to the shard its midpoint falls in
    (every shard gets one while no tensor is larger than a shard's share)."""
    total = sum(nbytes(s) for _, s in tensors)
    groups: list[list[tuple[str, list[int]]]] = [[] for _ in range(shards)]
    before = 0
    for item in tensors:
        size = nbytes(item[1])
        groups[min(shards - 1, (before + size // 2) * shards // total)].append(item)
        before += size
    if not all(groups):
        raise SystemExit(f"cannot pack into {shards} non-empty shards")
    return groups


def write_safetensors_sparse(path: Path, tensors: list[tuple[str, list[int]]]) -> int:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = nbytes(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    total = 8 + len(raw) + offset
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(total)  # the data region: a hole
    return total


def build_sharded(folder: Path, shards: int, layers: int) -> int:
    folder.mkdir(parents=True)
    groups = pack(transformer_tensors(layers), shards)
    weight_map: dict[str, str] = {}
    total = 0
    for i, group in enumerate(groups, 1):
        name = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        total += write_safetensors_sparse(folder / name, group)
        weight_map.update({t: name for t, _ in group})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"n_layers": layers}))
    return total


# --- the torch zip, by hand -----------------------------------------------------------------------


class _Storage:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    def __init__(self, storage: _Storage, shape: list[int]) -> None:
        self.storage, self.shape = storage, shape

    def __reduce__(self) -> Any:
        import torch

        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, 0, tuple(self.shape), tuple(stride), False, OrderedDict()),
        )


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        import torch

        if isinstance(obj, _Storage):
            return ("storage", torch.BFloat16Storage, obj.key, "cpu", obj.numel)
        return None


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")


def build_torch_zip(path: Path, gb: float, count: int) -> int:
    import io

    rows = max(1, int(gb * 1e9 / count / (D * BF16)))
    state = OrderedDict(
        (f"layers.{i}.weight", _Tensor(_Storage(str(i), rows * D), [rows, D])) for i in range(count)
    )
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump(state)
    members: list[tuple[bytes, bytes | int]] = [
        (b"archive/data.pkl", buf.getvalue()),
        (b"archive/byteorder", b"little"),
        *((f"archive/data/{i}".encode(), rows * D * BF16) for i in range(count)),
        (b"archive/version", b"3\n"),
        (b"archive/.data/serialization_id", b"0123456789"),
    ]
    import zlib

    central = []
    with open(path, "wb") as fh:
        pos = 0
        for name, data in members:
            size = data if isinstance(data, int) else len(data)
            crc = 0 if isinstance(data, int) else zlib.crc32(data)
            fh.seek(pos)
            fh.write(_LOCAL.pack(b"PK\x03\x04", 45, 0, 0, 0, 0, crc, size, size, len(name), 0) + name)
            start = pos + _LOCAL.size + len(name)
            if not isinstance(data, int):
                fh.write(data)
            central.append((name, crc, size, pos))
            pos = start + size  # a member whose bytes are never written is a hole
        cd_start = pos
        fh.seek(cd_start)
        for name, crc, size, offset in central:
            extra = b""
            stored_offset = offset
            if offset >= 0xFFFFFFFF:
                extra = struct.pack("<HHQ", 1, 8, offset)
                stored_offset = 0xFFFFFFFF
            fh.write(
                _CENTRAL.pack(b"PK\x01\x02", 45, 45, 0, 0, 0, 0, crc, size, size, len(name), len(extra), 0, 0, 0, 0, stored_offset)
                + name + extra
            )
        cd_end = fh.tell()
        cd_size = cd_end - cd_start
        n = len(central)
        fh.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, cd_size, cd_start))
        fh.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, cd_end, 1))
        fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), 0xFFFFFFFF, 0xFFFFFFFF, 0))
        return fh.tell()


# --- measuring ------------------------------------------------------------------------------------

READ = """
import json, os, sys, time
def rchar():
    try:
        for line in open("/proc/self/io"):
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
from ckptlens.checkpoint import read_checkpoint
import ckptlens.checkpoint.reader, ckptlens.checkpoint.remote.read  # imports are not the read
if sys.argv[1].startswith("hf://"):
    import huggingface_hub  # noqa: F401 - imported either way when the Hub is asked
before, start = rchar(), time.perf_counter()
index = read_checkpoint(sys.argv[1])
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the forked parent across exec
hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "tensors": len(index.tensors), "size": index.size,
                  "rchar": rchar() - before, "bytes_read": index.bytes_read, "rss": hwm}))
"""


def run_read(ref: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", READ, ref], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise SystemExit(f"reading {ref} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--layers", type=int, default=512, help="transformer blocks (512: ~1 TB)")
    parser.add_argument("--zip-gb", type=float, default=100.0)
    parser.add_argument("--zip-tensors", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in (and keep) this folder instead of a temporary one")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="ckptlens-bench-remote-", dir="/tmp"))
    try:
        sharded, zipped = work / "llm-1t", work / "zip-100g" / "model.pt"
        start = time.perf_counter()
        if not (sharded / "model.safetensors.index.json").exists():
            shutil.rmtree(sharded, ignore_errors=True)
            total = build_sharded(sharded, args.shards, args.layers)
        else:
            total = sum(p.stat().st_size for p in sharded.glob("*.safetensors"))
        if not zipped.exists():
            zipped.parent.mkdir(parents=True, exist_ok=True)
            zip_total = build_torch_zip(zipped, args.zip_gb, args.zip_tensors)
        else:
            zip_total = zipped.stat().st_size
        (work / "model.py").write_text(MODEL.replace("n_layers: int = 512", f"n_layers: int = {args.layers}"))
        on_disk = sum(p.stat().st_blocks * 512 for p in work.rglob("*") if p.is_file())
        print(f"built in {time.perf_counter() - start:.1f} s: {total / 1e12:.3f} TB in {args.shards} shards, "
              f"a {zip_total / 1e9:.1f} GB torch zip ({args.zip_tensors} storages); {mib(on_disk)} on disk (sparse)")

        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CKPTLENS_REMOTE"))}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), env.get("PYTHONPATH", "")])
        with HubStandIn() as hub:
            hub.repos["bench/llm-1t"] = Repo({p.name: str(p) for p in sharded.iterdir()})
            hub.repos["bench/zip-100g"] = Repo({"model.pt": str(zipped)})
            # the caches beside, not in, the folder of model.py: a folder whose entries change is
            # a changed dependency for the CLI's result cache (a module added there could shadow one)
            caches = work / "caches"
            caches.mkdir(exist_ok=True)
            cache = caches / "remote-cache"
            remote_env = {**env, "HF_ENDPOINT": hub.url, "HF_HOME": str(work / "hf-home"),
                          "CKPTLENS_REMOTE_CACHE": str(cache), "CKPTLENS_REMOTE_OFFLINE": "0",
                          "CKPTLENS_CACHE_DIR": str(caches / "ckptlens-cache")}
            # a warm check without the CLI's result cache: the checkpoint from the remote cache,
            # the class analysed again (what the result cache saves)
            uncached_env = {**remote_env, "CKPTLENS_NO_CACHE": "1"}

            print("\nindex (fresh process each; time = the read, imports excluded)")
            print(f"  {'what':34} {'tensors':>8} {'time':>8} {'peak RSS':>11} {'bytes read':>14} {'of total':>10}")
            rows: dict[str, dict[str, Any]] = {}
            for label, ref, size in (
                ("local 1 TB, 200 shards", str(sharded), total),
                ("local 100 GB torch zip", str(zipped), zip_total),
                ("HTTP 1 TB, 200 shards (cold)", "hf://bench/llm-1t", total),
                ("HTTP 100 GB torch zip (cold)", "hf://bench/zip-100g/model.pt", zip_total),
            ):
                shutil.rmtree(cache, ignore_errors=True)
                hub.stats.reset()
                got = run_read(ref, remote_env if ref.startswith("hf://") else env)
                moved = hub.stats.bytes_sent if ref.startswith("hf://") else got["rchar"]
                got["moved"] = moved
                rows[label] = got
                print(f"  {label:34} {got['tensors']:>8,} {got['seconds']:>7.3f}s {mib(got['rss']):>11} "
                      f"{moved:>14,} {moved / size:>10.5%}")
                if ref.startswith("hf://"):
                    print(f"  {'':34} server: {hub.stats.count} requests; reported bytes_read {got['bytes_read']:,}")

            print(f"\nremote check of the 200-shard model (p50 of {args.runs}; the read alone / the whole CLI run)")
            check = [sys.executable, "-m", "ckptlens", "check", str(work / "model.py"), "--class", "Big",
                     "--checkpoint", "hf://bench/llm-1t", "--format", "json"]
            project = work / "project"
            project.mkdir(exist_ok=True)
            (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
            (project / "model.py").write_text((work / "model.py").read_text() + '\n\nmodel = Big.from_pretrained("bench/llm-1t")\n')
            workspace = [sys.executable, "-m", "ckptlens", "check", "--format", "json"]
            results: dict[str, list[float]] = {
                "cold read": [], "warm read": [], "cold check": [], "warm check": [], "warm check, no result cache": [],
                "cold workspace check": [], "warm workspace check": [],
            }
            for _ in range(args.runs):
                shutil.rmtree(cache, ignore_errors=True)
                results["cold read"].append(run_read("hf://bench/llm-1t", remote_env)["seconds"])
                results["warm read"].append(run_read("hf://bench/llm-1t", remote_env)["seconds"])
                shutil.rmtree(cache, ignore_errors=True)
                for phase in ("cold check", "warm check", "warm check, no result cache"):
                    hub.stats.reset()
                    t = time.perf_counter()
                    out = subprocess.run(check, env=uncached_env if "no result" in phase else remote_env,
                                         capture_output=True, text=True, timeout=600)
                    results[phase].append(time.perf_counter() - t)
                    if out.returncode != 0:
                        raise SystemExit(f"check failed ({out.returncode}): {out.stdout[-1500:]} {out.stderr[-1500:]}")
                    if phase.startswith("warm check") and hub.stats.count:
                        raise SystemExit(f"a warm check asked the server {hub.stats.count} times")
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(project / ".ckptlens_cache", ignore_errors=True)
                for phase in ("cold workspace check", "warm workspace check"):
                    hub.stats.reset()
                    t = time.perf_counter()
                    out = subprocess.run(workspace, env=remote_env, capture_output=True, text=True, timeout=600, cwd=project)
                    results[phase].append(time.perf_counter() - t)
                    serious = [f for f in json.loads(out.stdout or "{}").get("findings", []) if f["severity"] in ("error", "warning")]
                    if out.returncode != 0 or serious:
                        raise SystemExit(f"workspace check failed ({out.returncode}): {out.stdout[-1500:]} {out.stderr[-1500:]}")
            for phase, values in results.items():
                print(f"  {phase:28} p50 {statistics.median(values):6.3f} s   (min {min(values):.3f}, max {max(values):.3f})")

        local = rows["local 1 TB, 200 shards"]
        http = rows["HTTP 1 TB, 200 shards (cold)"]
        zhttp = rows["HTTP 100 GB torch zip (cold)"]
        print("\ntargets")
        print(f"  local 1 TB index   {local['seconds']:.3f} s (<= 1 s)   {mib(local['rss'])} RSS (<= 100 MiB)")
        print(f"  HTTP 1 TB index    {http['seconds']:.3f} s (<= 3 s)   {http['moved'] / total:.5%} of the bytes (<= 0.01 %): "
              f"{total / max(http['moved'], 1):,.0f}x less than downloading the shards")
        print(f"  HTTP 100 GB zip    {zhttp['seconds']:.3f} s            {zhttp['moved'] / zip_total:.5%} of the bytes: "
              f"{zip_total / max(zhttp['moved'], 1):,.0f}x less than downloading it")
        print(f"  remote check       cold read p50 {statistics.median(results['cold read']):.3f} s (<= 2 s), "
              f"warm read p50 {statistics.median(results['warm read']):.3f} s (<= 0.3 s); whole CLI run "
              f"{statistics.median(results['cold check']):.3f} s cold, {statistics.median(results['warm check']):.3f} s warm "
              f"({statistics.median(results['warm check, no result cache']):.3f} s without the result cache); "
              f"workspace check (CI, pre-commit) {statistics.median(results['cold workspace check']):.3f} s cold, "
              f"{statistics.median(results['warm workspace check']):.3f} s warm")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
