"""Sweeps: ckptlens's prediction against torch's `state_dict()` over whole model registries.

Run by hand (needs the test extra and tests/requirements-nodeps.txt):

    python benchmarks/bench_sweep.py                          # every library, full sweeps
    python benchmarks/bench_sweep.py --library torchvision --limit 20 --json out.json
    python benchmarks/bench_sweep.py --library timm --names resnet50,vit_base_patch16_224
    PYTHONPATH=/path/to/worktree/server python benchmarks/bench_sweep.py ...  # another checkout

For each architecture: torch builds the model on the meta device (cached on disk, see
tests/sweep/targets.py), ckptlens predicts its state_dict from the library's source file
(transformers: the default config as save_pretrained writes config.json), and the prediction is
classified exact / order-only / unknown-only / wrong / error (tests/sweep/classify.py).

Prints per library: the counts, the exact fraction, key coverage (torch keys predicted with
their full correct shape / all torch keys) and p50/p95/max time per call. With `--cli` (the
default for a full run) the time is the installed `ckptlens keys ... --format json` CLI, one
fresh process per call, start-up included, with compiled bytecode, the result cache off
(`--no-cache`: every call is analysed) and the parse indexes of the library's files kept from
earlier calls (as on a machine that analysed the library before; `CKPTLENS_NO_CACHE=1` in the
environment times first calls ever, `benchmarks/bench_startup.py` prints both); otherwise the in-process
`predict` call with a warm analyzer (parse caches shared across the worker's models).

`--results DIR` writes DIR/<library>.json (name -> record) and DIR/SUMMARY.md (wrong and
unknown architectures grouped by recurring cause, with counts and an example each).
Targets (issue 11): wrong = 0; exact >= 98 % torchvision, >= 95 % transformers, >= 90 % timm
and diffusers; coverage >= 98 %; CLI p50 <= 300 ms, p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sweep.classify import summarize  # noqa: E402
from sweep.pool import run_sweep  # noqa: E402
from sweep.report import figures_table, summary_markdown  # noqa: E402
from sweep.targets import LIBRARIES, list_names  # noqa: E402


def compile_engine() -> str:
    """Compile the ckptlens the workers will import (PYTHONPATH decides which), as an installed
    tool has it; returns its location."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    where = subprocess.run([sys.executable, "-c", "import ckptlens, os; print(os.path.dirname(ckptlens.__file__))"],
                           capture_output=True, text=True, check=True, env=env).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], env=env, check=True, capture_output=True)
    return where


def engine_label(where: str) -> str:
    repo = Path(where).parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        # an exported snapshot (`git archive`): a HEAD file beside server/ may say which commit
        marker = repo / "HEAD"
        head = marker.read_text().strip() if marker.is_file() else "?"
    return f"{where} @ {head[:100]}"


def select(names: list[str], args: argparse.Namespace) -> list[str]:
    if args.names:
        wanted = [n.strip() for n in args.names.split(",") if n.strip()]
        names = [n for n in names if any(fnmatch.fnmatchcase(n, w) for w in wanted)]
    if args.sample:
        step = max(1, len(names) // args.sample)
        names = names[::step][: args.sample]
    if args.limit:
        names = names[: args.limit]
    return names


def spread(names: list[str]) -> list[str]:
    """A low-discrepancy order (golden-ratio stride): every prefix of the sweep is a fair
    sample of the whole registry, so partial results already say something."""
    return [n for _, n in sorted(((i * 0.6180339887498949) % 1.0, n) for i, n in enumerate(names))]


def write_results(directory: Path, library: str, records: dict[str, dict], merge: bool) -> dict[str, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{library}.json"
    if merge and path.exists():
        records = {**json.loads(path.read_text()), **records}
    records = dict(sorted(records.items()))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return records


def write_summary(directory: Path, label: str, planned: dict[str, int]) -> None:
    everything = {}
    for library in LIBRARIES:
        path = directory / f"{library}.json"
        if path.exists():
            everything[library] = json.loads(path.read_text())
    text = summary_markdown(everything, engine=label, planned=planned)
    tmp = directory / f".SUMMARY.{os.getpid()}.tmp"  # sweeps of other libraries may write it too
    tmp.write_text(text)
    tmp.replace(directory / "SUMMARY.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", action="append", choices=LIBRARIES, help="repeatable; default: all")
    parser.add_argument("--names", help="comma-separated names or globs (resnet*,vit_*)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N names (after --names/--sample)")
    parser.add_argument("--sample", type=int, default=0, help="every k-th name, N in all (deterministic)")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (at most 2 here)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per model (truth + prediction)")
    parser.add_argument("--cli", action=argparse.BooleanOptionalAction, default=None,
                        help="time the installed CLI per call (default: on for a full run)")
    parser.add_argument("--clean", action="store_true",
                        help="also `check` torch's own state_dict (header-only safetensors): must find no mismatch")
    parser.add_argument("--max-seconds", type=float,
                        help="raise the engine's wall-clock cap per analysis (default: the engine's own)")
    parser.add_argument("--cli-every", type=int, default=1, metavar="K",
                        help="with --cli: time the CLI on every K-th architecture only (classification covers all)")
    parser.add_argument("--fresh", action="store_true", help="a new Analyzer per model (no warm parse cache)")
    parser.add_argument("--json", type=Path, help="write every record, by library, to this file")
    parser.add_argument("--results", type=Path, help="write DIR/<library>.json and DIR/SUMMARY.md")
    parser.add_argument("--merge", action="store_true",
                        help="with --results: update the existing DIR/<library>.json records instead of replacing")
    parser.add_argument("--resume", action="store_true",
                        help="with --results: skip names DIR/<library>.json already holds (implies --merge)")
    parser.add_argument("--quiet", action="store_true", help="no line per model")
    args = parser.parse_args()

    libraries = args.library or list(LIBRARIES)
    partial = bool(args.names or args.limit or args.sample)
    cli = (not partial) if args.cli is None else args.cli
    where = compile_engine()
    label = engine_label(where)
    print(f"engine: {label}", flush=True)
    by_library: dict[str, dict[str, dict]] = {}
    planned: dict[str, int] = {}
    for library in libraries:
        names = spread(select(list_names(library), args))
        if args.resume and args.results and (args.results / f"{library}.json").exists():
            args.merge = True
            done_before = json.loads((args.results / f"{library}.json").read_text())
            names = [n for n in names if n not in done_before]
        print(f"== {library}: {len(names)} architectures", flush=True)
        done = 0
        start = time.perf_counter()
        partial_records: dict[str, dict] = {}
        planned[library] = len(names)

        def show(record: dict, library: str = library, total: int = len(names),
                 partial_records: dict[str, dict] = partial_records) -> None:
            nonlocal done
            done += 1
            partial_records[record["name"]] = record
            if args.results and (done % 25 == 0 or done == total):
                # partial results as they come: other sessions read them while the sweep runs
                write_results(args.results, library, partial_records, merge=args.merge)
                write_summary(args.results, label, planned)
            if args.quiet:
                return
            took = record.get("cli_seconds", record.get("seconds"))
            took_s = f"{took:6.2f}s" if isinstance(took, (int, float)) else "     - "
            extra = ""
            if record["class"] == "wrong":
                w = record["wrong"]
                extra = f" missing {w['n_missing']} extra {w['n_extra']} shapes {w['n_shapes']}"
            elif record["class"] in ("error", "no-truth"):
                extra = " " + record.get("error", "")[:120]
            elif record["class"] == "unknown-only" and record.get("unknown"):
                extra = f" `{record['unknown'][0][0] or '<root>'}`: {record['unknown'][0][1][:100]}"
            if record.get("clean"):
                extra += f" | clean checkpoint: {', '.join(sorted({f['code'] for f in record['clean']}))}"
            print(f"  [{done}/{total}] {record['name']:48} {record['class']:12} {took_s}{extra}", flush=True)

        results = run_sweep([(library, n) for n in names], processes=args.processes, timeout=args.timeout,
                            cli=cli, cli_every=max(1, args.cli_every), clean=args.clean, fresh=args.fresh,
                            max_seconds=args.max_seconds, on_result=show)
        records = {name: rec for (_, name), rec in sorted(results.items())}
        by_library[library] = records
        print(f"   {library}: {time.perf_counter() - start:.0f} s", flush=True)
        if args.results:
            by_library[library] = write_results(args.results, library, records, merge=args.merge)
            write_summary(args.results, label, planned)
    summaries = {lib: summarize(res) for lib, res in by_library.items()}
    print()
    print(figures_table(summaries))
    if args.json:
        args.json.write_text(json.dumps({"engine": label, "summaries": summaries, "results": by_library}, indent=1) + "\n")


if __name__ == "__main__":
    main()
