"""`ckptlens find` over a tree of checkpoints. Run by hand, not a test:

    python benchmarks/bench_find.py [--count 500] [--repeats 3] [--out DIR] [--keep] [--reuse]

Writes --count checkpoints of the fixture `resnet.Classifier` (real torch, a few hundred KB each)
into a `lightning_logs/version_N/checkpoints/` tree: Lightning-style dicts with optimizer state
(exact), `module.`-prefixed ones (mapped), ones missing the last stage (partial), and another
model's (unrelated); one in ten is safetensors. Then runs `ckptlens find` in a fresh process and
reports the wall and CPU time of the ranking (imports excluded; CPU time because wall time on a
shared machine measures the neighbours) and the wall time of the whole command. Checkpoints
sharing keys, shapes and dtypes are compared once (`--distinct` makes every one unique).
Target: 500 checkpoints ranked in <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GENERATE = """
import sys, importlib.util, torch
from pathlib import Path
from safetensors.torch import save_file
out, count, distinct = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[4] == "1"
def load(name):
    spec = importlib.util.spec_from_file_location(name, f"{sys.argv[3]}/fixtures/models/{name}.py")
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); return module
model = load("resnet").Classifier()
other = load("cnn").SmallCNN()
sd = model.state_dict()
opt = torch.optim.Adam(model.parameters())
for i in range(count):
    folder = out / "lightning_logs" / f"version_{i}" / "checkpoints"
    folder.mkdir(parents=True)
    kind = i % 4
    if kind == 0:
        obj = {"epoch": i, "state_dict": sd, "optimizer_states": [opt.state_dict()]}
    elif kind == 1:
        wrapper = ("module", "model", "_orig_mod", "module._orig_mod")[i % 4]
        obj = {f"{wrapper}.{k}": v for k, v in sd.items()}
    elif kind == 2:
        cut = ("resnet.layer3", "resnet.layer2", "resnet.bn1", "fc", "resnet.conv1")[i % 5]
        obj = {"state_dict": {k: v for k, v in sd.items() if not k.startswith(cut)}}
    else:
        obj = other.state_dict()
    if distinct:  # a key of its own: no two checkpoints share keys, shapes and dtypes
        plain = obj.get("state_dict", obj)
        plain[f"extra_{i}"] = torch.zeros(1)
    if i % 10 == 9:
        plain = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        save_file({k: v.contiguous().clone() for k, v in plain.items()}, str(folder / f"epoch={i}.safetensors"))
    else:
        torch.save(obj, folder / f"epoch={i}.ckpt")
print(count)
"""

CHILD = """
import json, sys, time
from ckptlens.find import find
t0 = time.perf_counter(); c0 = time.process_time()
result = find(sys.argv[1], "Classifier", [sys.argv[2]])
t1 = time.perf_counter(); c1 = time.process_time()
fits = {}
for c in result.candidates:
    fits[c.fit] = fits.get(c.fit, 0) + 1
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0, "fits": fits, "unreadable": len(result.unreadable)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument(
        "--distinct", action="store_true",
        help="worst case: every checkpoint has keys of its own (no comparison is shared)",
    )
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="ckptlens-bench-find-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = ROOT / "fixtures" / "models" / "resnet.py"
    try:
        if not (args.reuse and (folder / "lightning_logs").is_dir()):
            shutil.rmtree(folder / "lightning_logs", ignore_errors=True)
            subprocess.run(
                [sys.executable, "-c", GENERATE, str(folder), str(args.count), str(ROOT), "1" if args.distinct else "0"], check=True,
                capture_output=True, text=True,
            )  # fmt: skip
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{args.count} checkpoints, {size / 2**20:.0f} MiB, in {folder}")
        ranking, cpu, whole = [], [], []
        fits: dict[str, int] = {}
        for _ in range(args.repeats):
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(source), str(folder)],
                capture_output=True, text=True, cwd=ROOT, check=True,
            )  # fmt: skip
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            ranking.append(data["wall"])
            cpu.append(data["cpu"])
            fits = data["fits"]
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "ckptlens", "find", str(source), "--class", "Classifier", str(folder),
                 "--format", "json"],
                capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            whole.append(time.perf_counter() - t0)
        print(f"fits: {fits}")
        print(
            f"ranking (in process): wall median {statistics.median(ranking):.2f} s, best {min(ranking):.2f} s;"
            f" CPU median {statistics.median(cpu):.2f} s"
        )
        print(f"`ckptlens find` command: median {statistics.median(whole):.2f} s, best {min(whole):.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
