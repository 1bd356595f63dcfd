"""Inference (issue 15): per library, the share of checkpoint variants found with no config
given, against the share found with the config given; false alarms; inferred values.

    python benchmarks/bench_infer.py                          # every library, SAMPLE names each
    python benchmarks/bench_infer.py --library transformers --per-library 12 --json out.json
    python benchmarks/bench_infer.py --library transformers --fresh 15   # names outside that sample

The sample is tests/test_sweeps.py's deterministic sample of each library (every k-th name of
the sorted registry), thinned to --per-library names. For each architecture torch's
`state_dict()` (meta device, cached as for the sweeps) is written as a header-only
safetensors file, clean and as four variants (a `module.` prefix, a dropped key, an added
key, a first dim one larger; tests/sweep/infer_variants.py), and checked twice: with the
target's constructor values (`--init`, transformers' config.json as `--config`) and with
none at all (torchvision's `weights_backbone=None`, which only avoids a download, is kept).
A variant is found when exactly the expected finding comes; a false alarm is a mismatch
finding on the clean checkpoint. Target: with no config, >= 90 % of the variants found with
the config, and zero false alarms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sweep.infer_variants import VARIANTS, evaluate  # noqa: E402
from sweep.targets import LIBRARIES  # noqa: E402


def _sample(library: str, per_library: int) -> list[str]:
    from test_sweeps import SAMPLES

    names = SAMPLES.get(library)
    if not isinstance(names, list):
        return []
    step = max(1, len(names) // per_library)
    return names[::step][:per_library]


def _fresh(library: str, count: int) -> list[str]:
    """`count` names of the whole registry half-way between those of the tests' sample (none of
    them in it), so the figures are not those of the names the inference was worked on."""
    from sweep.targets import list_names
    from test_sweeps import SAMPLE_SIZE

    names = list_names(library)
    step = max(2, len(names) // SAMPLE_SIZE[library])  # the tests' sample: names[::step]
    between = [n for n in names[step // 2 :: step] if n not in set(names[::step])]
    return between[:: max(1, len(between) // count)][:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", action="append", choices=LIBRARIES)
    parser.add_argument("--per-library", type=int, default=10)
    parser.add_argument("--names", help="comma-separated names (with a single --library)")
    parser.add_argument("--fresh", type=int, metavar="N",
                        help="N names of the registry between the tests' sample's (every k-th from half a step)")
    parser.add_argument("--json", help="write every record here")
    args = parser.parse_args()
    from ckptlens.api import Analyzer

    libraries = args.library or list(LIBRARIES)
    records: list[dict] = []
    rows = []
    for library in libraries:
        if args.names:
            names = args.names.split(",")
        else:
            names = _fresh(library, args.fresh) if args.fresh else _sample(library, args.per_library)
        analyzer = Analyzer()
        found = {"config": 0, "none": 0}
        both = 0
        total = 0
        false_alarms = {"config": 0, "none": 0}
        inferred = wrong = 0
        start = time.perf_counter()
        for name in names:
            record = evaluate(library, name, analyzer)
            records.append(record)
            modes = record.get("modes", {})
            if "config" not in modes:
                print(f"  {library}:{name}: {record.get('error')}", flush=True)
                continue
            for variant in VARIANTS:
                with_config = modes["config"]["variants"].get(variant)
                if with_config is None or variant == "clean":
                    continue
                without = modes["none"]["variants"][variant]
                total += 1
                found["config"] += with_config["found"]
                found["none"] += without["found"]
                both += with_config["found"] and without["found"]
            for mode in ("config", "none"):
                clean = modes[mode]["variants"]["clean"]
                if clean.get("false_alarms") or "error" in clean:
                    false_alarms[mode] += 1
                    print(f"  {library}:{name} [{mode}] clean: {clean.get('false_alarms') or clean.get('error')}", flush=True)
            clean_none = modes["none"]["variants"]["clean"]
            inferred += len(clean_none.get("inferred", {}))
            wrong += len(clean_none.get("inferred_wrong", {}))
            missed = [v for v in VARIANTS[1:] if v in modes["config"]["variants"] and modes["config"]["variants"][v]["found"] and not modes["none"]["variants"][v]["found"]]
            print(f"  {library}:{name}: inferred {len(clean_none.get('inferred', {}))}, "
                  f"coverage {clean_none.get('coverage')}" + (f", missed without config: {missed}" if missed else ""), flush=True)
        share = found["none"] / found["config"] if found["config"] else 1.0
        rows.append((library, len(names), total, found["config"], found["none"], both, share, false_alarms, inferred, wrong,
                     time.perf_counter() - start))
    print()
    print(f"{'library':13} {'models':>6} {'variants':>8} {'found w/ config':>15} {'found no config':>15} "
          f"{'share':>6} {'false alarms (cfg/none)':>23} {'inferred':>8} {'wrong':>5} {'seconds':>7}")
    for library, n, total, with_config, none, _both, share, fa, inferred, wrong, seconds in rows:
        print(f"{library:13} {n:6} {total:8} {with_config:15} {none:15} {share:6.0%} "
              f"{fa['config']:>11}/{fa['none']:<11} {inferred:8} {wrong:5} {seconds:7.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1, default=repr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
