"""`ckptlens check` on a whole workspace (no SOURCE), cold and warm, against `check` per class.

Run by hand (needs the test extra, for torch): `python benchmarks/bench_workspace.py [--links 200]
[--per-class N] [--jobs 2] [--keep DIR]`.

Generates a workspace of `--links` linked classes: a copy of fixtures/models, and per link a
module `linked/net_<i>.py` with its own class `Net<i>` (a subclass of an exact fixture class),
linked in turn by a `# ckptlens:` directive, a `[[tool.ckptlens.link]]` table in pyproject.toml,
or a load call (`net = Net<i>(...)` + `net.load_state_dict(torch.load(...))`) in
`scripts/load_<i>.py`; every 10th checkpoint has one submodule renamed (a finding to report).
Then times, each in a fresh process with compiled bytecode:
- cold: `ckptlens check --format json --no-cache` (nothing cached on disk), and
  `ckptlens check --format json` with the run cache emptied first (it then writes the cache);
- warm: the same again, nothing changed (answered from `.ckptlens_cache`);
- per class: `ckptlens check net_<i>.py --class Net<i> --checkpoint ...` for `--per-class`
  links (all by default), the total extrapolated to every link when sampled.
Targets (issue 14): cold <= 10 s, warm <= 1 s on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "fixtures" / "models"
sys.path[:0] = [str(ROOT / "tests"), str(MODELS)]


def build(root: Path, count: int) -> list[dict[str, Any]]:
    import torch

    from fixture_cases import CASES

    cases = []
    for case in CASES:
        if not case.exact:
            continue
        module = importlib.import_module(case.file[:-3].replace("/", "."))
        target = getattr(module, case.class_name)
        if inspect.isclass(target):
            cases.append((case, target))
    shutil.copytree(MODELS, root / "fx", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "fx" / "__init__.py").touch()
    for folder in ("linked", "scripts", "ckpts"):
        (root / folder).mkdir()
    (root / "linked" / "__init__.py").touch()
    tables: list[str] = []
    links: list[dict[str, Any]] = []
    states: dict[str, dict[str, Any]] = {}
    for i in range(count):
        case, target = cases[i % len(cases)]
        state = states.get(case.id)
        if state is None:
            torch.manual_seed(0)
            state = states[case.id] = target(**case.init).state_dict()
        ckpt = root / "ckpts" / f"c{i}.pt"
        saved = state
        if i % 10 == 0:  # a renamed submodule
            first = next(iter(state)).split(".")[0]
            saved = {(("renamed_" + k) if k.split(".")[0] == first else k): v for k, v in state.items()}
        torch.save(saved, ckpt)
        module = "fx." + case.file[:-3].replace("/", ".")
        values = {k: repr(v) for k, v in case.init.items()}
        kind = ("directive", "pyproject", "load")[i % 3]
        if kind == "directive" and any(" " in v.replace(", ", ",") for v in values.values()):
            kind = "pyproject"
        lines = [f"from {module} import {case.class_name}", "", ""]
        if kind == "directive":
            items = " ".join(f"init:{k}={v.replace(', ', ',')}" for k, v in values.items())
            lines.append(f"# ckptlens: checkpoint=../ckpts/c{i}.pt {items}".rstrip())
        lines += [f"class Net{i}({case.class_name}):", "    pass", ""]
        (root / "linked" / f"net_{i}.py").write_text("\n".join(lines))
        if kind == "pyproject":
            init = ", ".join(f"{k} = {json.dumps(v)}" for k, v in case.init.items())
            tables.append(
                f'[[tool.ckptlens.link]]\nclass = "linked/net_{i}.py:Net{i}"\ncheckpoint = "ckpts/c{i}.pt"\n'
                + (f"init = {{ {init} }}\n" if init else "")
            )
        elif kind == "load":
            args = ", ".join(f"{k}={v}" for k, v in values.items())
            (root / "scripts" / f"load_{i}.py").write_text(
                f"import torch\nfrom linked.net_{i} import Net{i}\n\n\ndef main():\n"
                f"    net = Net{i}({args})\n    net.load_state_dict(torch.load(\"ckpts/c{i}.pt\", map_location=\"cpu\"))\n"
                "    return net\n"
            )
        links.append({"file": str(root / "linked" / f"net_{i}.py"), "class": f"Net{i}", "checkpoint": str(ckpt), "init": case.init})
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n\n' + "\n".join(tables))
    return links


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)}: exit {run.returncode}: {run.stderr.strip()[:300]}")
    return elapsed, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--per-class", type=int, default=0, help="time `check` per class for N links (0: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    args = parser.parse_args()

    from bench_check import real_install_env

    env = real_install_env()
    env["PYTHONPATH"] = str(ROOT / "server")
    root = args.keep or Path(tempfile.mkdtemp(prefix="ckptlens-ws-"))
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    links = build(root, args.links)
    print(f"workspace: {root} ({len(links)} linked classes, built in {time.perf_counter() - start:.1f}s)")
    base = [sys.executable, "-m", "ckptlens", "check", "--format", "json", "--jobs", str(args.jobs)]

    cold_nocache, run = timed([*base, "--no-cache"], root, env)
    findings = json.loads(run.stdout)["findings"]
    checked = {f["link"] for f in findings}
    shutil.rmtree(root / ".ckptlens_cache", ignore_errors=True)
    cold, run_cold = timed(base, root, env)
    warm, run_warm = timed(base, root, env)
    assert run_warm.stdout == run_cold.stdout == run.stdout, "the warm run must answer the same"
    serial, _ = timed([*base[:-2], "--jobs", "1", "--no-cache"], root, env)
    codes: dict[str, int] = {}
    for f in findings:
        codes[f["code"]] = codes.get(f["code"], 0) + 1

    sample = links if not args.per_class else links[: args.per_class]
    per_class = 0.0
    for link in sample:
        init = [a for k, v in link["init"].items() for a in ("--init", f"{k}={v!r}")]
        elapsed, _ = timed(
            [sys.executable, "-m", "ckptlens", "check", link["file"], "--class", link["class"],
             "--checkpoint", link["checkpoint"], "--format", "json", *init], root, env,
        )
        per_class += elapsed
    estimate = per_class * len(links) / len(sample)

    print(f"findings: {len(findings)} over {len(checked)} checkpoints; by code: {json.dumps(codes, sort_keys=True)}")
    print(f"cold, --no-cache, --jobs {args.jobs}:   {cold_nocache:6.2f} s   (target <= 10 s)")
    print(f"cold, writing the cache:        {cold:6.2f} s")
    print(f"warm, nothing changed:          {warm:6.2f} s   (target <= 1 s)")
    print(f"cold, --no-cache, --jobs 1:     {serial:6.2f} s")
    label = "all" if len(sample) == len(links) else f"{len(sample)} timed, extrapolated"
    print(f"check per class ({label}):  {estimate:6.2f} s")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
