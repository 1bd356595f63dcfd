"""The research corpus: ckptlens's prediction against torch's `state_dict()` for model code from
public research repositories (tests/research/cases.py).

    python benchmarks/bench_research.py                        # the vendored corpus (tests/research/corpus)
    python benchmarks/bench_research.py --corpus DIR           # a full export: DIR/<owner>__<name>/...
    python benchmarks/bench_research.py --names 'lucidrains/*' --json out.json
    PYTHONPATH=/path/to/worktree/server python benchmarks/bench_research.py   # another engine

One process, in order: torch builds each case on the meta device (its module imported from the
repository's root; missing third-party modules the model never uses are stubbed for torch
only), ckptlens predicts it from the source file with the case's constructor values, and the
prediction is classified exact / order-only / unknown-only / wrong / error (no-truth: torch
could not build it here, e.g. a dependency that is not installed). Prints a line per case that
is not exact, then per repository and overall: the counts, the exact fraction, key coverage
(torch keys predicted with their full correct shape / all torch keys) and p50/p95 of the
in-process `predict` time (warm parse caches, as in an editor).

A full export is what the vendored corpus was cut from (tests/research/vendor.py): every
repository of the table, including those not vendored (their license is not permissive, or the
files are too large), e.g. `git archive` of each snapshot into DIR/<owner>__<name>.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from research.cases import CASES, NOT_EXACT  # noqa: E402
from research.harness import build_truth, predict_case, source  # noqa: E402
from sweep.classify import summarize  # noqa: E402
from sweep.report import figures_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="a full export (default: the vendored corpus)")
    parser.add_argument("--names", help="comma-separated globs over case ids (repo:path:name)")
    parser.add_argument("--json", type=Path, help="write every record to this file")
    parser.add_argument("--by-repo", action="store_true", help="a table row per repository")
    args = parser.parse_args()

    from ckptlens.api import Analyzer

    cases = [c for c in CASES if source(c, args.corpus).is_file()]
    if args.names:
        wanted = [w.strip() for w in args.names.split(",") if w.strip()]
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, w) for w in wanted)]
    analyzer = Analyzer()
    records: dict[str, dict[str, Any]] = {}
    for case in cases:
        chatter = io.StringIO()  # research code prints while it builds
        try:
            with contextlib.redirect_stdout(chatter):
                truth, _ = build_truth(case, args.corpus)
        except Exception as exc:  # noqa: BLE001 - torch cannot build it here
            records[case.id] = {"class": "no-truth", "repo": case.repo, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            records[case.id] = {**predict_case(case, truth, analyzer, args.corpus), "repo": case.repo}
        record = records[case.id]
        if record["class"] != "exact":
            why = record.get("wrong") or record.get("error") or NOT_EXACT.get(case.id) or record.get("unknown") or ""
            print(f"{record['class']:13} {record.get('coverage', 0.0):6.1%}  {case.id}  {str(why)[:200]}", flush=True)
    groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for case_id, record in records.items():
        if args.by_repo:
            groups[record["repo"]][case_id] = record
    groups["all"] = records
    summaries = {name: summarize(group, "seconds") for name, group in groups.items()}
    print()
    print(figures_table(summaries).replace("library", "corpus ").replace("swept", "cases"))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
