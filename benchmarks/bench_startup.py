"""Per-call CLI time, A against B in the same run (issue 11's target: p50 <= 300 ms, p95 <= 1 s).

    python benchmarks/bench_startup.py --library timm --sample 20 --repeat 2
    python benchmarks/bench_startup.py --baseline /work/main/server --library transformers --sample 10

Each call is `ckptlens keys SOURCE --class NAME --format json`, one fresh process, start-up
included, compiled bytecode (as `bench_sweep.py --cli` runs it). Variants are interleaved call by
call so machine load hits them alike; each is called once untimed first (its disk caches filled):

- `analysis`: this checkout with `--no-cache` (the result cache off; the library files' parse
  indexes warm): what a call on a class not asked before costs once the library was seen;
- `cold`: this checkout with `CKPTLENS_NO_CACHE=1` (no disk cache at all): the first call ever;
- `warm`: this checkout, the same call again (answered by the result cache);
- with `--baseline DIR` (another checkout's `server/`), the same three there — the before of a
  before/after: `base-analysis`, `base-cold`, and `baseline` (the result cache's answer); the
  ratios printed pair analysis/base-analysis, cold/base-cold and warm/baseline.

Also `python -c pass` and `import ckptlens.api` (the floor every analysed call pays). Prints wall
and CPU (user+sys of the child) p50/p95 per variant and the median per-call CPU ratio against
`baseline` (or `cold`), and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def targets(library: str, sample: int) -> list[dict[str, Any]]:
    """The sweep's deterministic sample (`bench_sweep.py --sample N`), as CLI arguments."""
    code = (
        "import json, sys\n"
        "from sweep.targets import list_names, target_and_builder, import_library\n"
        f"lib = {library!r}; import_library(lib)\n"
        "names = list_names(lib)\n"
        f"step = max(1, len(names) // {sample}); names = names[::step][:{sample}]\n"
        "out = []\n"
        "for n in names:\n"
        "    try:\n"
        "        t, _ = target_and_builder(lib, n)\n"
        "    except Exception:\n"
        "        continue\n"
        "    out.append({'name': n, **t.to_json()})\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def command(target: dict[str, Any], config_file: str | None) -> list[str]:
    args = [sys.executable, "-m", "ckptlens", "keys", target["source"], "--class", target["class_name"],
            "--format", "json"]
    for key, value in target["init"].items():
        args += ["--init", f"{key}={value!r}"]
    if config_file:
        args += ["--config", config_file]
    return args


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+sys of the child), exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, run.returncode


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def compile_tree(server: str) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", server], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", action="append", default=None,
                        choices=["torchvision", "timm", "transformers", "diffusers"])
    parser.add_argument("--sample", type=int, default=10, help="architectures per library (every k-th)")
    parser.add_argument("--repeat", type=int, default=1, help="timed calls per architecture and variant")
    parser.add_argument("--baseline", metavar="SERVER_DIR", help="another checkout's server/ folder (the before)")
    args = parser.parse_args()

    this = str(ROOT / "server")
    compile_tree(this)
    if args.baseline:
        compile_tree(args.baseline)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cache_dir = tempfile.mkdtemp(prefix="ckptlens-bench-cache-")
    base_cache = tempfile.mkdtemp(prefix="ckptlens-bench-cache-base-")
    variants: dict[str, dict[str, str]] = {
        "analysis": {**base_env, "PYTHONPATH": this, "CKPTLENS_CACHE_DIR": cache_dir},
        "cold": {**base_env, "PYTHONPATH": this, "CKPTLENS_NO_CACHE": "1"},
        "warm": {**base_env, "PYTHONPATH": this, "CKPTLENS_CACHE_DIR": cache_dir},
    }
    extra = {"analysis": ["--no-cache"], "base-analysis": ["--no-cache"]}
    if args.baseline:
        # the same three variants there: each ratio compares like with like
        variants["base-analysis"] = {**base_env, "PYTHONPATH": args.baseline, "CKPTLENS_CACHE_DIR": base_cache}
        variants["base-cold"] = {**base_env, "PYTHONPATH": args.baseline, "CKPTLENS_NO_CACHE": "1"}
        variants["baseline"] = {**base_env, "PYTHONPATH": args.baseline, "CKPTLENS_CACHE_DIR": base_cache}
    print(f"load average before: {os.getloadavg()}")

    floor: dict[str, list[tuple[float, float]]] = {}
    for label, code in (("python -c pass", "pass"), ("import ckptlens.api", "import ckptlens.api")):
        for name, env in variants.items():
            if name in ("warm", "analysis", "base-analysis", "base-cold"):
                continue
            floor[f"{label} [{name}]"] = [timed([sys.executable, "-c", code], env)[:2] for _ in range(5)]
    for label, runs in floor.items():
        print(f"{label:40s} wall p50 {pct([w for w, _ in runs], .5) * 1000:6.0f} ms  "
              f"cpu p50 {pct([c for _, c in runs], .5) * 1000:6.0f} ms")

    for library in args.library or ["torchvision", "timm", "transformers", "diffusers"]:
        chosen = targets(library, args.sample)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        failures: dict[str, int] = {name: 0 for name in variants}
        for target in chosen:
            config_file = None
            if target["config"] is not None:
                fd, config_file = tempfile.mkstemp(suffix=".json", prefix="ckptlens-bench-")
                with os.fdopen(fd, "w") as handle:
                    json.dump(target["config"], handle)
            try:
                argv = command(target, config_file)
                for name, env in variants.items():
                    timed(argv + extra.get(name, []), env)  # fills the disk caches (not timed)
                for _ in range(args.repeat):
                    for name, env in variants.items():
                        wall, cpu, code = timed(argv + extra.get(name, []), env)
                        results[name].append((wall, cpu))
                        failures[name] += code not in (0, 1)
            finally:
                if config_file:
                    os.unlink(config_file)
        print(f"\n{library}: {len(chosen)} architectures x {args.repeat}")
        for name, runs in results.items():
            walls = [w for w, _ in runs]
            cpus = [c for _, c in runs]
            print(f"  {name:13s} wall p50 {pct(walls, .5) * 1000:6.0f} ms  p95 {pct(walls, .95) * 1000:6.0f} ms   "
                  f"cpu p50 {pct(cpus, .5) * 1000:6.0f} ms  p95 {pct(cpus, .95) * 1000:6.0f} ms   "
                  f"exit>1: {failures[name]}")
        if "baseline" in results:
            pairs = [("analysis", "base-analysis"), ("cold", "base-cold"), ("warm", "baseline")]
        else:
            pairs = [(name, "cold") for name in results if name != "cold"]
        for name, reference in pairs:
            ratios = [a[1] / b[1] for a, b in zip(results[name], results[reference], strict=True) if b[1] > 0]
            if ratios:
                print(f"  {name}/{reference}: median per-call cpu ratio {statistics.median(ratios):.2f}")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
