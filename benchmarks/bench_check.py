"""`ckptlens check` per call, interpreter start-up included, against the runtime way.

Run by hand (needs the test extra, for torch): `python benchmarks/bench_check.py [--limit N]`.

For every exact fixture case it saves the real model's state_dict once, then times, each in a
fresh process:
- ckptlens: `python -m ckptlens check SOURCE --class NAME --checkpoint CKPT --format json`;
- the runtime way: import torch, import the model file, build the model, `torch.load`, then
  `load_state_dict(strict=False)` — what a user runs today to find out.
Prints p50/p95 of each and the ratio. Targets (issue 4): p50 < 250 ms, p95 < 600 ms, >= 10x.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
sys.path[:0] = [str(ROOT / "tests"), str(MODELS)]

RUNTIME = """
import sys, json, importlib
sys.path.insert(0, {models!r})
import torch
module = importlib.import_module({module!r})
model = getattr(module, {cls!r})(**json.loads({init!r}))
state = torch.load({ckpt!r}, map_location="cpu", weights_only=True)
model.load_state_dict(state, strict=False)
"""


def real_install_env() -> dict[str, str]:
    """Time it as an installed tool runs: with compiled bytecode (some shells export
    PYTHONDONTWRITEBYTECODE, which makes every start recompile every module)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "server" / "ckptlens")],
                   env=env, check=True, capture_output=True)
    return env


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="only the first N cases")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    import torch

    from fixture_cases import CASES

    env = real_install_env()
    cases = [c for c in CASES if c.exact]
    if args.limit:
        cases = cases[: args.limit]
    out = Path(tempfile.mkdtemp(prefix="ckptlens-bench-"))
    ours: list[float] = []
    theirs: list[float] = []
    for i, case in enumerate(cases):
        module_name = case.file[:-3].replace("/", ".")
        module = importlib.import_module(module_name)
        ckpt = out / f"case{i}.pt"
        torch.save(getattr(module, case.class_name)(**case.init).state_dict(), ckpt)
        source = MODELS / case.file
        init_args = [a for k, v in case.init.items() for a in ("--init", f"{k}={v!r}")]
        for _ in range(args.repeat):
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "ckptlens", "check", str(source), "--class", case.class_name,
                 "--checkpoint", str(ckpt), "--format", "json", *init_args],
                capture_output=True, text=True, env=env,
            )
            ours.append(time.perf_counter() - start)
            if run.returncode != 0:
                print(f"  ! {case.id}: exit {run.returncode} {run.stderr.strip()[:200]} {run.stdout[:200]}")
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", RUNTIME.format(models=str(MODELS), module=module_name,
                                                      cls=case.class_name, init=json.dumps(case.init),
                                                      ckpt=str(ckpt))],
                capture_output=True, check=True, env=env,
            )
            theirs.append(time.perf_counter() - start)
    ms = 1000
    print(f"cases: {len(cases)} x {args.repeat}")
    print(f"{'':22}{'p50':>10}{'p95':>10}{'mean':>10}")
    for label, values in (("ckptlens check", ours), ("runtime (torch)", theirs)):
        print(f"{label:22}{_percentile(values, .5) * ms:>9.0f}ms{_percentile(values, .95) * ms:>9.0f}ms"
              f"{statistics.mean(values) * ms:>9.0f}ms")
    print(f"ratio (runtime / ckptlens), p50: {_percentile(theirs, .5) / _percentile(ours, .5):.1f}x")


if __name__ == "__main__":
    main()
